"""The waveform detector's data side: labels -> page boxes, YOLO datasets, training (ultralytics)."""
