"""The statement catalogue: "can do" / "can't do" statements per skill and CEFR level, and curated review
lists (eTest ETAPI-32, ETAPI-52, ETAPI-53).

An item the engine sends names the "can do" statement it checks; a missed item's "can't do" statement is the
catalogue's pair of that statement, or (for a statement the catalogue does not know) the same text turned
round ("Can read ..." -> "Can't yet read ..."). Items without a statement fall back to the catalogue's
statement for their skill and level.
"""

from __future__ import annotations

import re

CEFR = ("Pre-A1", "A1", "A1+", "A2", "A2+", "B1", "B1+", "B2", "B2+", "C1", "C2")
CEFR_RANK = {level: n for n, level in enumerate(CEFR)}
SKILLS = ("Grammar", "Listening", "Reading", "Writing", "Speaking")
SKILL_RANK = {skill: n for n, skill in enumerate(SKILLS)}

# One "can do" statement per skill and level (Pre-A1 ... C2), in CEFR order.
_CAN_DO: dict[str, tuple[str, ...]] = {
    "Grammar": (
        "Can recognise a few single words and fixed phrases",
        "Can use simple present forms and basic word order",
        "Can use common question forms and simple pronouns",
        "Can use past simple and common time expressions",
        "Can link simple sentences with and, but and because",
        "Can use the main tenses to talk about familiar topics",
        "Can use modal verbs to give advice and make suggestions",
        "Can use conditionals and the passive with confidence",
        "Can use reported speech and relative clauses accurately",
        "Can use complex structures flexibly with few errors",
        "Can control a wide range of grammar consistently",
    ),
    "Listening": (
        "Can understand very slow speech about personal details",
        "Can understand simple questions and instructions spoken slowly",
        "Can follow short, clear announcements about everyday needs",
        "Can understand phrases about shopping, work and family",
        "Can catch the main point of short, clear messages",
        "Can understand the main points of clear speech on familiar matters",
        "Can follow radio or TV programmes on familiar topics",
        "Can follow extended speech and complex lines of argument",
        "Can follow lively conversations between native speakers",
        "Can understand extended speech that is not clearly structured",
        "Can understand any spoken language, even at fast native speed",
    ),
    "Reading": (
        "Can recognise familiar names and very simple words",
        "Can understand short, simple notices and signs",
        "Can find a specific fact in a short, simple text",
        "Can find predictable information in menus and timetables",
        "Can understand short personal letters",
        "Can understand texts of everyday or job-related language",
        "Can understand the description of events and feelings in letters",
        "Can read articles where writers take a particular viewpoint",
        "Can read specialised articles outside their own field",
        "Can understand long and complex factual and literary texts",
        "Can read virtually all forms of written language with ease",
    ),
    "Writing": (
        "Can copy single words and short phrases",
        "Can write a short, simple postcard or form",
        "Can write short notes about immediate needs",
        "Can write short, simple messages and notes",
        "Can write a simple personal letter",
        "Can write simple connected text on familiar topics",
        "Can write letters describing experiences and impressions",
        "Can write clear, detailed text on a wide range of subjects",
        "Can write an essay giving reasons for or against a view",
        "Can express ideas in clear, well-structured text",
        "Can write complex letters, reports or articles in an appropriate style",
    ),
    "Speaking": (
        "Can say a few words about themselves",
        "Can use simple phrases to describe where they live",
        "Can ask and answer simple questions on familiar topics",
        "Can communicate in simple, routine tasks",
        "Can handle very short social exchanges",
        "Can deal with most situations likely to arise when travelling",
        "Can narrate a story and describe reactions",
        "Can interact with a degree of fluency and spontaneity",
        "Can take an active part in discussions in familiar contexts",
        "Can express ideas fluently and spontaneously",
        "Can take part effortlessly in any conversation or discussion",
    ),
}

# Curated review lists (ETAPI-53): what to work on, per skill and broad band (A, B, C).
_REVIEW: dict[str, dict[str, str]] = {
    "Grammar": {
        "A": "Grammar: review present and past simple, question forms and word order",
        "B": "Grammar: review tenses in context, modal verbs, conditionals and the passive",
        "C": "Grammar: review complex sentences, reported speech and register",
    },
    "Listening": {
        "A": "Listening: practise short dialogues and announcements, listening twice",
        "B": "Listening: practise following talks and programmes on familiar topics",
        "C": "Listening: practise extended, unstructured speech at natural speed",
    },
    "Reading": {
        "A": "Reading: practise notices, messages and short texts, looking for key facts",
        "B": "Reading: practise articles and letters, identifying the main points and opinions",
        "C": "Reading: practise long, complex texts and specialised articles",
    },
    "Writing": {
        "A": "Writing: practise short messages, notes and forms",
        "B": "Writing: practise connected paragraphs and personal letters",
        "C": "Writing: practise well-structured essays and reports with a clear argument",
    },
    "Speaking": {
        "A": "Speaking: practise introducing yourself and simple everyday exchanges",
        "B": "Speaking: practise describing experiences and giving opinions",
        "C": "Speaking: practise discussions and presentations on complex topics",
    },
}

_CAN = re.compile(r"^can\s+", re.IGNORECASE)


def band(level: str) -> str:
    """A, B or C: the broad CEFR band of a level (Pre-A1 is A)."""
    return "A" if level == "Pre-A1" else level[0]


def can_do(skill: str, level: str) -> str:
    return _CAN_DO[skill][CEFR_RANK[level]]


def cant_do(statement: str) -> str:
    """The "can't do" form of a "can do" statement ("Can read ..." -> "Can't yet read ...")."""
    text = statement.strip().rstrip(".")
    if _CAN.match(text):
        return "Can't yet " + _CAN.sub("", text, count=1)
    return f"Can't yet: {text}"


def review(skill: str, level: str) -> str:
    return _REVIEW[skill][band(level)]


def statements(skill: str, level: str) -> dict[str, str]:
    """The catalogue entry of a skill and level: can-do, can't-do and the review line."""
    statement = can_do(skill, level)
    return {"can-do": statement, "cant-do": cant_do(statement), "review": review(skill, level)}


def at_or_below(skill: str, level: str) -> list[str]:
    """Every "can do" statement of the skill up to and including `level`, lowest first."""
    return list(_CAN_DO[skill][: CEFR_RANK[level] + 1])
