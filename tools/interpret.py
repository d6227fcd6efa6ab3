"""Ask a trained model about one page of a recording.

    python tools/interpret.py RECORDING --start S --model DIR [--chat] [--question TEXT] [--out DIR]
                              [--montage NAME] [--detector WEIGHTS|default|none]

Renders the 10 s page at S seconds, runs the engine (background, artifacts, detector, cleaning),
asks the model (an exported checkpoint, e.g. outputs/stage2/hf) for a description and prints it,
and saves the page and the page with the detections drawn into --out (default interpret_output).
With --chat the conversation goes on in the terminal (empty line or Ctrl-D ends it).
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
    parser.add_argument("--model", required=True, help="exported checkpoint directory (model + processor)")
    parser.add_argument("--question", default=None, help="first question (default: describe the page)")
    parser.add_argument("--chat", action="store_true", help="go on asking questions in the terminal")
    parser.add_argument("--out", default="interpret_output")
    parser.add_argument("--montage", default="longitudinal_bipolar")
    parser.add_argument("--detector", default="default", help="detector weights, 'default', or 'none'")
    parser.add_argument("--max-new-tokens", type=int, default=384)
    args = parser.parse_args(argv)
    use_local_caches()

    from cerebragloss.interpret import DESCRIBE, Interpreter, open_page

    try:
        context = open_page(args.recording, args.start, args.montage, None if args.detector == "none" else args.detector)
        interpreter = Interpreter(args.model, max_new_tokens=args.max_new_tokens)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(args.recording).stem}_{args.start:g}s"
    context.page.save(out / f"{stem}.png")
    context.drawn.save(out / f"{stem}_detections.png")
    (out / f"{stem}.annotation.json").write_text(json.dumps(context.annotation, indent=1))
    findings = context.annotation["findings"]
    print(f"page {stem}: {context.annotation['background']['summary']}")
    print(f"engine: {len(context.annotation['artifacts'])} artifacts, {len(findings.get('events', []))} waveform events kept after cleaning")
    print(f"saved {out / f'{stem}.png'} and {out / f'{stem}_detections.png'}\n")
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
