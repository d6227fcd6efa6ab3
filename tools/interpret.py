"""Ask a trained model about one page of a recording.

    python tools/interpret.py RECORDING --start S [--model DIR] [--chat] [--question TEXT] [--out DIR]
                              [--montage auto|NAME] [--detector WEIGHTS|default|none]

Renders the 10 s page at S seconds in the best montage the recording allows (or --montage; the
choice and its reason are printed), runs the engine (background, artifacts, detector, cleaning)
and prints what it found, saves the page, the page with the detections drawn and the annotation
into --out (default interpret_output), then asks the model (an exported checkpoint, e.g.
outputs/stage2/hf) for a description. Without --model it stops after the engine. With --chat the
conversation goes on in the terminal (empty line or Ctrl-D ends it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cerebragloss.runtime import use_local_caches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recording")
    parser.add_argument("--start", type=float, required=True, help="page start in seconds")
    parser.add_argument("--model", default=None, help="exported checkpoint directory (model + processor); without it, only the page and the engine")
    parser.add_argument("--question", default=None, help="first question (default: describe the page)")
    parser.add_argument("--chat", action="store_true", help="go on asking questions in the terminal")
    parser.add_argument("--out", default="interpret_output")
    parser.add_argument("--montage", default="auto", help="auto (default: the best the recording allows), as_recorded, average, longitudinal_bipolar or transverse_bipolar")
    parser.add_argument("--detector", default="default", help="detector weights, 'default', or 'none'")
    parser.add_argument("--max-new-tokens", type=int, default=384)
    args = parser.parse_args(argv)
    use_local_caches()

    from cerebragloss.interpret import DESCRIBE, Interpreter, engine_summary, open_page
    from cerebragloss.settings import page_for_model
    from cerebragloss.signals import RecordingError

    if (args.chat or args.question) and not args.model:
        parser.error("--chat and --question need --model (without it the tool stops after the page and the engine)")
    try:
        montage, page_settings = page_for_model(args.model, args.montage)  # a model's pages are drawn as its training data's
        context = open_page(args.recording, args.start, montage, None if args.detector == "none" else args.detector, page_settings)
        interpreter = Interpreter(args.model, max_new_tokens=args.max_new_tokens) if args.model else None
    except (FileNotFoundError, ValueError, RecordingError) as error:
        parser.error(str(error))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(args.recording).stem}_{args.start:g}s"
    context.page.save(out / f"{stem}.png")
    context.drawn.save(out / f"{stem}_detections.png")
    (out / f"{stem}.annotation.json").write_text(json.dumps(context.annotation, indent=1))
    print(f"page {stem}: {len(context.page.segment.channels)} channels, montage {context.montage.describe()}")
    print("\n".join(engine_summary(context.annotation)))
    print(f"saved {out / f'{stem}.png'}, {out / f'{stem}_detections.png'} and {out / f'{stem}.annotation.json'}\n")
    if interpreter is None:
        print("no --model given: the page and the engine's findings only")
        return 0
    question = args.question or DESCRIBE
    print(f"you> {question}")
    print(f"model> {interpreter.ask(context.page.image, question)}")
    while args.chat:
        try:
            question = input("you> ").strip()
        except EOFError:
            break
        if not question:
            break
        print(f"model> {interpreter.ask(context.page.image, question)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
