"""The LLM teacher: descriptions, complex multiple-choice questions and conversations written from
a page's structured annotation (never its image), as in the paper.

- ``build_request`` turns one annotation and one task into a prompt: the rule caption plus the
  facts with detection coordinates (``facts_record``), after a one-shot example; the reply must
  follow the task's JSON schema.
- ``GeminiTeacher`` asks Gemini through ``google-genai`` (structured output, per-request timeout,
  retries with exponential backoff and jitter on 429/5xx/timeouts/malformed JSON via tenacity).
  The key comes from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` only and is never written anywhere.
- ``OfflineTeacher`` writes the same three tasks from templates, deterministically, for the demo
  and tests; its samples are labelled ``source: offline``.
- ``ReplyCache`` keeps every reply on disk under a hash of everything that decides it, so a rerun
  never pays twice and a killed run resumes where it stopped.
- ``run_teacher`` asks for many requests with bounded concurrency and accounts for tokens and cost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cerebragloss.labels import ARTIFACT_TYPES, EPILEPTIFORM_CLASSES, WAVEFORM_CLASSES
from cerebragloss.llm import (
    GeminiAsker,
    GeminiSettings,
    MalformedReply,
    Reply,
    ReplyCache,
    RunReport,
    request_key,
    run_requests,
)
from cerebragloss.synthesis.facts import PageFacts, facts_record, page_facts
from cerebragloss.synthesis.rules import (
    MCQ_OPTION_ORDERS,
    _article,
    _cap,
    _list,
    _name,
    artifact_sentence,
    background_sentence,
    caption,
    epileptiform_sentence,
    page_rng,
    sleep_sentence,
)
from cerebragloss.synthesis.samples import IMAGE_PLACEHOLDER, LETTERS, mcq_prompt

TEACHER_TASKS: tuple[str, ...] = ("description", "complex_mcq", "conversation")
#: Bump when the prompt, the example or the schemas change: cached replies then no longer apply.
#: 2: the input says which waveform classes were looked for (``waveforms_searched``)
PROMPT_VERSION = "2"
#: Bump when the offline teacher's templates change (its cached replies then no longer apply).
#: 2: complex MCQs as a 2 x 2 grid of bands and findings (``_offline_mcq``)
OFFLINE_TEMPLATE_VERSION = "2"


@dataclass
class TeacherSettings(GeminiSettings):
    """The teacher of ``tools/augment_llm.py`` (``--set teacher.model=...``); the Gemini
    connection settings come from ``GeminiSettings``. Thinking stays off: the task is rewriting
    given facts, not reasoning."""

    kind: str = "offline"  # offline | gemini
    #: the order of the offline teacher's complex-MCQ options: ``shuffled`` (as written so far), or
    #: ``clinical``: by band (delta -> beta), then by finding in its label space's order
    #: (``cerebragloss.labels``; left before right; "no ..." last), so the letter follows from what
    #: the options are, as ``rules.mcq_option_order`` does for the rule MCQs. The options and the
    #: rng draws are the same either way; a Gemini teacher's options are its own (free text)
    mcq_option_order: str = "shuffled"

    def __post_init__(self):
        if self.mcq_option_order not in MCQ_OPTION_ORDERS:
            raise ValueError(f"teacher.mcq_option_order: {self.mcq_option_order!r} is not one of {', '.join(MCQ_OPTION_ORDERS)}")


# ---------------------------------------------------------------------------------------------
# Prompt

SYSTEM_INSTRUCTION = """You are a board-certified clinical neurophysiologist writing teaching material about one 10-second EEG page.
You do not see the page. You are given its caption and its structured annotation: the montage, the background (posterior dominant rhythm, prevailing band, voltage, symmetry), waveform detections that survived cleaning (class, channels, time in seconds, pixel box, region, electrode of maximal negativity) and artifacts (type, channels, time).
Rules:
- State only what the input contains. Never add a waveform, artifact, electrode, region, frequency or time that is not in the input.
- Say that a waveform class is absent only if it is listed in "waveforms_searched"; the other classes were not looked for on this page: never say they are absent (you may say they were not assessed). "waveform_detector_outside_coverage" gives the reasons when the waveform detector's search does not cover this page.
- An empty list of artifacts means none were found; an empty list of discharges or transients means none of the searched classes were found.
- Use standard clinical EEG vocabulary (e.g. "phase reversal", "posterior dominant rhythm", "K-complex").
- Reply with JSON that follows the response schema, nothing else."""

TASK_INSTRUCTIONS = {
    "description": "Write a detailed, fluent clinical description of the page (one paragraph, 4-8 sentences) covering the montage, background, any sleep transients, any epileptiform discharges with their location and maximal negativity, and any artifacts.",
    "complex_mcq": "Write one multiple-choice question that needs at least two findings of the page together to answer, with exactly 4 distinct options, the letter of the single correct option, and a one-sentence explanation that uses only the input.",
    "conversation": "Write a conversation of 3 or 4 turns between a trainee (questions) and you (answers) about this page. The answers use only the input; the first question asks for an overview.",
}

_STRING = {"type": "string"}
RESPONSE_SCHEMAS: dict[str, dict] = {
    "description": {"type": "object", "properties": {"description": _STRING}, "required": ["description"]},
    "complex_mcq": {
        "type": "object",
        "properties": {
            "question": _STRING,
            "options": {"type": "array", "items": _STRING, "minItems": 4, "maxItems": 4},
            "answer": {"type": "string", "enum": list(LETTERS)},
            "explanation": _STRING,
        },
        "required": ["question", "options", "answer", "explanation"],
    },
    "conversation": {
        "type": "object",
        "properties": {
            "turns": {
                "type": "array",
                "minItems": 2,
                "maxItems": 6,
                "items": {"type": "object", "properties": {"question": _STRING, "answer": _STRING}, "required": ["question", "answer"]},
            }
        },
        "required": ["turns"],
    },
}

#: The one-shot example: a page with a right temporal sharp wave, alpha background and eye blinks.
EXAMPLE_INPUT = {
    "caption": "The page shows 10 s of EEG in a longitudinal bipolar (double banana) montage. Background activity is medium-voltage, "
    "predominantly in the alpha band (median 28 µV). The posterior dominant rhythm is 10.2 Hz alpha activity of about 35 µV (P8-O2). "
    "The background is symmetric. No sleep transients are seen. At 4.2 s there is a sharp wave in F8-T8 and T8-P8, with maximal "
    "negativity at T8 (phase reversal between F8-T8 and T8-P8), right temporal. Eye movement (EOG) artifact is seen in Fp1-F7 and "
    "Fp2-F8 (7.1-7.6 s).",
    "annotation": {
        "montage": "longitudinal_bipolar", "channels_missing": [], "waveform_detector_ran": True,
        "waveforms_searched": list(WAVEFORM_CLASSES), "waveform_detector_outside_coverage": [],
        "epileptiform_discharges": [{"class": "sharp_wave", "channels": ["F8-T8", "T8-P8"], "start_s": 4.2, "end_s": 4.35,
                                     "region": "right temporal", "box_px": [590, 140, 612, 196], "maximum_negativity_at": "T8"}],
        "sleep_transients": [],
        "artifacts": [{"type": "eog", "channels": ["Fp1-F7", "Fp2-F8"], "start_s": 7.1, "end_s": 7.6}],
        "background": {"prevailing_band": "alpha", "median_uv": 28.0, "voltage": "medium-voltage", "pdr_present": True,
                       "pdr_hz": 10.2, "pdr_band": "alpha", "pdr_uv": 35.0, "pdr_channel": "P8-O2", "symmetric": True, "asymmetries": []},
    },
}  # fmt: skip
EXAMPLE_REPLIES = {
    "description": {"description": "This 10-second page in the longitudinal bipolar montage shows a symmetric, medium-voltage background "
                    "with a 10.2 Hz alpha posterior dominant rhythm of about 35 µV. At 4.2 s a sharp wave appears in F8-T8 and T8-P8; the "
                    "phase reversal at T8 places its maximal negativity in the right temporal region. No sleep transients are present. "
                    "Eye movement (EOG) artifact affects Fp1-F7 and Fp2-F8 between 7.1 and 7.6 s."},
    "complex_mcq": {"question": "Which combination best describes this page?",
                    "options": ["Alpha posterior dominant rhythm with a right temporal sharp wave (maximal at T8)",
                                "Alpha posterior dominant rhythm with a left temporal sharp wave (maximal at T7)",
                                "Theta background with a right temporal sharp wave (maximal at T8)",
                                "Alpha posterior dominant rhythm without epileptiform discharges"],
                    "answer": "A",
                    "explanation": "The posterior dominant rhythm is 10.2 Hz alpha and the sharp wave at 4.2 s phase-reverses at T8."},
    "conversation": {"turns": [
        {"question": "Can you give me an overview of this page?",
         "answer": "It is a symmetric, medium-voltage alpha background with a 10.2 Hz posterior dominant rhythm, one right temporal sharp wave and a brief eye movement artifact."},
        {"question": "Where is the sharp wave maximal?",
         "answer": "At T8: the deflections in F8-T8 and T8-P8 point toward each other, a phase reversal at T8, at 4.2 s."},
        {"question": "Is anything on the page not cerebral?",
         "answer": "Yes, the deflection in Fp1-F7 and Fp2-F8 at 7.1-7.6 s is eye movement (EOG) artifact."}]},
}  # fmt: skip


@dataclass(frozen=True)
class TeacherRequest:
    """One thing to ask: a page and a task, and the prompt that asks it."""

    page_key: str
    task: str
    prompt: str

    @property
    def sample_id(self) -> str:
        return f"{self.page_key}-{self.task}"


def teacher_input(annotation: dict, facts: PageFacts | None = None) -> dict:
    """What the teacher sees of a page: its caption and its facts with detection coordinates."""
    facts = facts or page_facts(annotation)
    return {"caption": caption(facts), "annotation": facts_record(facts)}


def user_prompt(task: str, payload: dict) -> str:
    return f"TASK: {task}\n{TASK_INSTRUCTIONS[task]}\nINPUT:\n```json\n{json.dumps(payload, ensure_ascii=False)}\n```"


def build_request(annotation: dict, task: str) -> TeacherRequest:
    if task not in TEACHER_TASKS:
        raise ValueError(f"teacher task {task!r} is not one of {', '.join(TEACHER_TASKS)}")
    return TeacherRequest(annotation["key"], task, user_prompt(task, teacher_input(annotation)))


def parse_prompt(prompt: str) -> tuple[str, dict]:
    """(task, input) back from a prompt (the offline teacher and the fake server read it)."""
    task = prompt.split("\n", 1)[0].removeprefix("TASK: ").strip()
    body = prompt.rsplit("```json\n", 1)[1].rsplit("\n```", 1)[0]
    return task, json.loads(body)


def cache_key(request: TeacherRequest, settings: TeacherSettings) -> str:
    """Everything that decides a reply: teacher, model, prompt version, sampling, the prompt."""
    decides = {"kind": settings.kind, "model": settings.model if settings.kind != "offline" else "offline",
               "version": PROMPT_VERSION, "temperature": settings.temperature, "task": request.task, "prompt": request.prompt}  # fmt: skip
    if settings.kind == "offline":
        decides["template"] = OFFLINE_TEMPLATE_VERSION
        if settings.mcq_option_order != "shuffled":
            decides["mcq_option_order"] = settings.mcq_option_order
    return request_key(decides)


def parse_reply(task: str, text: str | None) -> dict:
    """The reply as a dict that follows ``RESPONSE_SCHEMAS[task]``; ``MalformedReply`` otherwise."""
    try:
        reply = json.loads(text or "")
    except json.JSONDecodeError as error:
        raise MalformedReply(f"not JSON ({error.msg} at character {error.pos}): {str(text)[:80]!r}") from None
    if not isinstance(reply, dict):
        raise MalformedReply(f"expected a JSON object, got {type(reply).__name__}")
    schema = RESPONSE_SCHEMAS[task]
    missing = [k for k in schema["required"] if k not in reply]
    if missing:
        raise MalformedReply(f"missing {', '.join(missing)}")
    if task == "description" and not (isinstance(reply["description"], str) and reply["description"].strip()):
        raise MalformedReply("empty description")
    if task == "complex_mcq" and not (isinstance(reply["options"], list) and all(isinstance(o, str) for o in reply["options"])):
        raise MalformedReply("options are not a list of strings")
    if task == "conversation":
        turns = reply["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) and {"question", "answer"} <= set(t) for t in turns):
            raise MalformedReply("turns are not a list of {question, answer}")
    return reply


def sample_from_reply(request: TeacherRequest, reply: dict, annotation: dict, source: str, teacher: str) -> dict:
    """A Sample from a teacher's reply. Structural problems (e.g. 3 options) are left for
    verification to reject with a reason, so they are counted instead of crashing the run."""
    task = request.task
    if task == "description":
        messages = [{"role": "user", "content": f"{IMAGE_PLACEHOLDER}\nDescribe this EEG page in detail."},
                    {"role": "assistant", "content": reply["description"].strip()}]  # fmt: skip
        extra = {}
    elif task == "complex_mcq":
        options = [str(o).strip() for o in reply["options"]]
        letter = str(reply["answer"]).strip().upper()[:1]
        right = options[LETTERS.index(letter)] if letter in LETTERS[: len(options)] else "?"
        messages = [{"role": "user", "content": f"{IMAGE_PLACEHOLDER}\n{mcq_prompt(str(reply['question']).strip(), options)}"},
                    {"role": "assistant", "content": f"{letter}. {right}\n{str(reply['explanation']).strip()}"}]  # fmt: skip
        extra = {"answer": letter, "options": options}
    else:
        messages = []
        for turn in reply["turns"]:
            messages += [{"role": "user", "content": str(turn["question"]).strip()}, {"role": "assistant", "content": str(turn["answer"]).strip()}]
        messages[0]["content"] = f"{IMAGE_PLACEHOLDER}\n{messages[0]['content']}"
        extra = {}
    sample = {"id": request.sample_id, "task": task, "source": source, "messages": messages, "subject": annotation["subject"],
              "recording": annotation["recording"], "page": annotation.get("page"), "teacher": teacher, **extra,
              "annotation": annotation}  # fmt: skip
    return sample


# ---------------------------------------------------------------------------------------------
# Teachers


class OfflineTeacher:
    """Template teacher: the three tasks from the same input, deterministic, no network."""

    source = "offline"
    name = "offline"

    def __init__(self, settings: TeacherSettings | None = None):
        self.settings = settings or TeacherSettings()

    def ask(self, request: TeacherRequest) -> Reply:
        task, payload = parse_prompt(request.prompt)
        return Reply(offline_reply(task, payload, request.page_key, self.settings.mcq_option_order))


def _facts_from_payload(payload: dict, key: str) -> PageFacts:
    """PageFacts back from a teacher input (what the offline teacher and the fake server read)."""
    from cerebragloss.synthesis.facts import ArtifactFact, BackgroundFact, EventFact

    record = payload["annotation"]

    def event(e: dict) -> EventFact:
        return EventFact(e["class"], tuple(e["channels"]), e["start_s"], e["end_s"], 1.0, tuple(e.get("box_px", ())),
                         e.get("maximum_negativity_at"), None)  # fmt: skip

    background = dict(record["background"])
    background["asymmetries"] = tuple(tuple(a) for a in background["asymmetries"])
    return PageFacts(
        key=key, recording="", subject="", start_s=0.0, duration_s=10.0, montage=record["montage"], channels=(),
        missing=tuple(record["channels_missing"]), detector_ran=record["waveform_detector_ran"],
        searched=frozenset(record["waveforms_searched"]), detector_outside=tuple(record["waveform_detector_outside_coverage"]),
        epileptiform=tuple(event(e) for e in record["epileptiform_discharges"]),
        sleep=tuple(event(e) for e in record["sleep_transients"]),
        artifacts=tuple(ArtifactFact(a["type"], tuple(a["channels"]), a["start_s"], a["end_s"]) for a in record["artifacts"]),
        background=BackgroundFact(**background, summary=""),
    )  # fmt: skip


def offline_reply(task: str, payload: dict, key: str, mcq_option_order: str = "shuffled") -> dict:
    facts = _facts_from_payload(payload, key)
    rng = page_rng(key, 1, f"offline-{task}")
    if task == "description":
        parts = [background_sentence(facts, rng), sleep_sentence(facts, rng), epileptiform_sentence(facts, rng), artifact_sentence(facts, rng)]
        return {"description": " ".join(p for p in parts if p) + " " + _impression(facts)}
    if task == "complex_mcq":
        return _offline_mcq(facts, rng, mcq_option_order)
    turns = [{"question": "Can you give me an overview of this page?", "answer": background_sentence(facts, rng) + " " + _impression(facts)}]
    epileptiform = epileptiform_sentence(facts, rng)
    if epileptiform:
        turns.append({"question": "Are there any epileptiform discharges?", "answer": epileptiform})
    if facts.sleep:
        turns.append({"question": "Which sleep transients do you see?", "answer": sleep_sentence(facts, rng)})
    turns.append({"question": "Is anything on the page not cerebral?", "answer": artifact_sentence(facts, rng)})
    return {"turns": turns}


def _impression(facts: PageFacts) -> str:
    if facts.epileptiform:
        regions = list(dict.fromkeys(e.region for e in facts.epileptiform))
        return f"Impression: epileptiform discharges, {_list(regions)}."
    if not facts.epileptiform_searched:
        why = ("this page layout is outside what the automated waveform search covers" if facts.detector_outside
               else "waveform detection was not run on this page")  # fmt: skip
        return f"Impression: {'normal sleep transients; ' if facts.sleep else 'background only; '}epileptiform discharges not assessed ({why})."
    if facts.sleep:
        return "Impression: normal sleep transients; no epileptiform discharges."
    return "Impression: no epileptiform discharges on this page."


#: option ranks of the complex MCQs' clinical order: bands delta -> beta, then the finding before
#: its absence ("no ..." last)
_BAND_RANK = {band: rank for rank, band in enumerate(("delta", "theta", "alpha", "beta"))}
#: each band's distractor: slow against fast activity, so that the band half of the question asks
#: "slow or fast?" (with the clinical order, the slow band's options come first)
_CONTRAST_BAND = {"delta": "alpha", "alpha": "delta", "theta": "beta", "beta": "theta"}
#: how the absence of each finding family of the complex MCQs reads
_ABSENCE = {"epileptiform": "no epileptiform discharges", "sleep": "no sleep transients", "artifact": "no artifacts"}


def _finding_families(facts: PageFacts) -> dict[str, tuple[list, tuple[str, ...]]]:
    """The families a complex MCQ may ask about on this page: each with the page's findings and
    the classes the page's search covered (a family whose absence may not be stated - a class not
    looked for - is left out unless the page has one)."""
    families = {}
    if facts.epileptiform or facts.epileptiform_searched:
        families["epileptiform"] = (list(facts.epileptiform), tuple(c for c in EPILEPTIFORM_CLASSES if c in facts.searched))
    if facts.sleep or facts.sleep_searched:
        families["sleep"] = (list(facts.sleep), facts.sleep_searched or tuple(e.label for e in facts.sleep))
    families["artifact"] = (list(facts.artifacts), ARTIFACT_TYPES)
    return families


def _offline_mcq(facts: PageFacts, rng, option_order: str = "shuffled") -> dict:
    """"Which combination best describes this page?": the background band (or the PDR's) x one
    finding family, as a 2 x 2 grid: {the page's band, its contrasting band} x {the family's
    first finding on the page, or one made up where it has none; its absence}. Each band and each
    finding text is in two options, so the options alone do not give the answer away: the page
    must decide both halves (the image-blind control of ``make learn`` can learn no more than the
    answers' priors). The family is drawn regardless of what the page holds, so a made-up finding
    is as common a distractor as its absence. ``option_order``: ``TeacherSettings.mcq_option_order``."""
    b = facts.background
    band = b.pdr_band if b.pdr_present else b.prevailing_band
    other_band = _CONTRAST_BAND.get(band) or [x for x in _BAND_RANK if x != band][int(rng.integers(3))]
    rhythm = "posterior dominant rhythm" if b.pdr_present else "background"
    families = _finding_families(facts)
    family = list(families)[int(rng.integers(len(families)))]
    found, classes = families[family]
    if found:
        label, start_s = found[0].label, found[0].start_s
    else:  # a made-up finding of the family, as the distractor
        label, start_s = classes[int(rng.integers(len(classes)))], round(float(rng.uniform(0.5, 9.0)), 1)
    claim = f"{_article(_name(label))} at {start_s:.1f} s"
    absence = _ABSENCE[family]
    right_finding = claim if found else absence
    grid = [((x, text), (_BAND_RANK.get(x, len(_BAND_RANK)), rank)) for x in (band, other_band) for rank, text in enumerate((claim, absence))]
    # "dominant activity" in every option: "posterior dominant rhythm" (awake) against
    # "background" (asleep) would tell the band without the page
    options = [(f"{_cap(x)} dominant activity with {text}", rank) for (x, text), rank in grid]
    right = f"{_cap(band)} dominant activity with {right_finding}"
    options = [options[i] for i in rng.permutation(4)]  # drawn either way: the same rng stream after
    if option_order == "clinical":
        options = sorted(options, key=lambda option: option[1])
    texts = [text for text, _ in options]
    why = f"the {rhythm} is {band} and " + (f"{_article(_name(label))} occurs at {start_s:.1f} s" if found else f"the page shows {absence}")
    return {"question": "Which combination best describes this page?", "options": texts,
            "answer": LETTERS[texts.index(right)], "explanation": _cap(why) + "."}  # fmt: skip


class GeminiTeacher(GeminiAsker):
    """Gemini through ``google-genai`` (``cerebragloss.llm.GeminiClient``): the one-shot example,
    then the page; structured output per task; retried on faults and malformed replies."""

    def ask(self, request: TeacherRequest) -> Reply:
        example = [("user", user_prompt(request.task, EXAMPLE_INPUT)), ("model", json.dumps(EXAMPLE_REPLIES[request.task], ensure_ascii=False))]
        return self.client.generate_json(SYSTEM_INSTRUCTION, [*example, ("user", request.prompt)], RESPONSE_SCHEMAS[request.task],
                                         lambda text: parse_reply(request.task, text))  # fmt: skip


def make_teacher(settings: TeacherSettings):
    if settings.kind == "offline":
        return OfflineTeacher(settings)
    if settings.kind == "gemini":
        return GeminiTeacher(settings)
    raise ValueError(f"teacher.kind must be 'offline' or 'gemini', got {settings.kind!r}")


def run_teacher(requests: list[TeacherRequest], teacher, cache: ReplyCache, settings: TeacherSettings,
                progress: bool = True) -> tuple[dict[str, dict], RunReport]:  # fmt: skip
    """Every request's reply (by sample id), from the cache or the teacher (``llm.run_requests``)."""
    concurrency = 1 if isinstance(teacher, OfflineTeacher) else settings.concurrency
    return run_requests(requests, teacher, cache, lambda r: cache_key(r, settings), concurrency=concurrency,
                        price_input_per_million=settings.price_input_per_million,
                        price_output_per_million=settings.price_output_per_million, progress=progress, desc="teacher")  # fmt: skip
