from callbacks.export import ExportHuggingFace
from callbacks.grad_norm import GradientNorm
from callbacks.log_samples import LogGeneratedSamples
from callbacks.predictions import WritePredictions
from callbacks.stop_at_fraction import StopAtFraction
from callbacks.throughput import TokenThroughput

__all__ = ["ExportHuggingFace", "GradientNorm", "LogGeneratedSamples", "StopAtFraction", "TokenThroughput", "WritePredictions"]
