"""The principles the rights lint reads a scenario's rules against, and the contexts in
which it reads them: documented, editable tables (`scslab.analysis.lint` applies them).

- PRINCIPLES: each finding's code, the law or safeguard it rests on and what that
  protects; SEVERITY_OF: each code's severity (SEVERITIES, most serious first);
- DOMAIN_CONTEXT: the social context of each domain a measure can restrict;
  RELATED_CONTEXTS: for each context where data is generated, the contexts where using
  it is related (EU AI Act Art. 5(1)(c)(i)): a judgement, written down so it can be read
  and changed;
- the domains and contexts that engage a particular right (special categories of data,
  the freedoms that records of speech, petitions, gatherings and worship restrict,
  movement, third parties), and the ASSUMED gravity classes of a record by its points.

Severities:

- `prohibited`: a practice the law forbids outright (EU AI Act Art. 5(1)(c) social
  scoring, GDPR Art. 9(1) special-category processing without an exception, collective
  punishment); `scslab audit --strict` exits 1 when any is found;
- `high`: an interference with a right without the safeguard that could justify it
  (GDPR Art. 22, ICCPR Arts. 12, 14, 18, 19, 21, 22, 25);
- `medium`: a missing or partial safeguard (notice, appeal, expiry).
"""

from __future__ import annotations

from scslab.scenario.sections import Context, Domain

SEVERITIES = ("prohibited", "high", "medium")
"""Finding severities, most serious first."""

DOMAIN_CONTEXT: dict[Domain, Context] = {
    "flights": "transport",
    "high_speed_rail": "transport",
    "hotels_tourism": "travel",
    "loans": "finance",
    "business_registration": "commerce",
    "public_jobs": "employment",
    "public_services": "public_services",
    "private_schools": "education",
    "online_accounts": "online_speech",
    "medical": "medical",
    "education": "education",
    "petitions": "petitioning",
    "gatherings": "assembly",
    "worship": "religion",
}
"""The social context in which a measure restricting a domain applies."""

RELATED_CONTEXTS: dict[str, frozenset[str]] = {
    "judicial": frozenset({"judicial", "finance", "commerce", "tax"}),
    "finance": frozenset({"finance", "commerce", "judicial"}),
    "tax": frozenset({"tax", "finance", "commerce", "judicial"}),
    "commerce": frozenset({"commerce", "finance", "tax", "judicial"}),
    "employment": frozenset({"employment", "commerce"}),
    "transport": frozenset({"transport"}),
    "traffic": frozenset({"traffic", "transport"}),
    "utilities": frozenset({"utilities"}),
    "civic": frozenset({"civic"}),
    "online_speech": frozenset({"online_speech"}),
    "travel": frozenset({"travel", "transport"}),
    "education": frozenset({"education"}),
    "medical": frozenset({"medical"}),
    "public_services": frozenset({"public_services"}),
    "general": frozenset({"general"}),
    "petitioning": frozenset({"petitioning"}),
    "assembly": frozenset({"assembly"}),
    "religion": frozenset({"religion"}),
}
"""For each context where data is generated, the contexts in which using it to treat a
person differently is related (EU AI Act Art. 5(1)(c)(i)). Civil judgments enforce
debts, so judicial, finance, tax and commerce data are related among themselves;
everything else is related only to itself (traffic also to transport, travel to
transport)."""

SPECIAL_CATEGORY_CONTEXTS: dict[str, str] = {
    "online_speech": "political opinions",
    "petitioning": "political opinions",
    "assembly": "political opinions",
    "religion": "religious beliefs",
}
"""Contexts whose records reveal a GDPR Art. 9(1) special category: what they reveal. A
post, a petition against an official's decision and joining an unapproved gathering are
judged for what they say about the state (political opinions); worship outside a
registered venue reveals a religious belief."""

CONDUCT: dict[str, str] = {
    "online_speech": "what residents post",
    "petitioning": "petitioning outside the permitted channels",
    "assembly": "taking part in gatherings the authorities did not approve",
    "religion": "religious practice outside registered venues",
}
"""What the records of each special-category context penalise (for the findings)."""

RESTRICTED_RIGHTS: dict[str, tuple[str, ...]] = {
    "online_speech": ("expression",),
    "petitioning": ("expression", "participation"),
    "assembly": ("assembly", "association"),
    "religion": ("religion", "association"),
}
"""The freedoms (finding codes) that penalising the records of a context restricts: a
judgement, written down so it can be read and changed. Petitioning: ICCPR has no right
of petition by name; a petition imparts information and ideas to the authorities (Art.
19(2)) and takes part in the conduct of public affairs (Art. 25(a); Human Rights
Committee General Comment 25, para. 8: influence through public debate and dialogue).
Gatherings: peaceful assembly (Art. 21), and the groups that call them (Art. 22).
Worship outside registered venues: manifesting religion in worship and practice, alone
or in community (Art. 18(1)), by congregations that do not register (Art. 22)."""

RIGHT_DOMAINS: dict[str, str] = {
    "online_accounts": "expression",
    "petitions": "participation",
    "gatherings": "assembly",
    "worship": "religion",
}
"""Domains whose blocking by a measure restricts a freedom (finding code)."""

MOVEMENT_DOMAINS: frozenset[str] = frozenset({"flights", "high_speed_rail"})
"""Domains whose restriction interferes with freedom of movement (ICCPR Art. 12)."""

THIRD_PARTY_DOMAINS: dict[str, str] = {"private_schools": "the subject's children"}
"""Domains where a measure falls on someone other than the listed person."""

MINOR_POINTS, SERIOUS_POINTS = 20.0, 100.0
"""ASSUMED gravity classes of a record from its points: |points| < 20 minor, >= 100
serious, general in between (Rongcheng's table: -5 traffic ticket, -10 card arrears,
-20..-60 contract breaches and theft, -100 damaging utility equipment)."""

BREADTH_CONTEXTS = 3
"""A listing that restricts this many distinct contexts or more is joint punishment out
of proportion to any one behaviour (EU AI Act Art. 5(1)(c)(ii))."""

PRINCIPLES: dict[str, tuple[str, str]] = {
    "unrelated_context": (
        "EU AI Act Art. 5(1)(c)(i)",
        "social scoring leading to detrimental treatment in a context unrelated to where "
        "the data was generated",
    ),
    "disproportionate": (
        "EU AI Act Art. 5(1)(c)(ii)",
        "social scoring leading to treatment disproportionate to the behaviour or its gravity",
    ),
    "special_category": (
        "GDPR Art. 9(1)",
        "processing of special-category data (political opinions, religious beliefs) without "
        "an exception (Art. 9(2))",
    ),
    "automated_decision": (
        "GDPR Art. 22",
        "a decision with legal or similarly significant effect based solely on automated "
        "processing, with no right to human intervention",
    ),
    "movement": ("ICCPR Art. 12", "freedom of movement"),
    "expression": ("ICCPR Art. 19", "freedom of expression"),
    "religion": (
        "ICCPR Art. 18",
        "freedom of thought, conscience and religion, and to manifest it in worship and practice",
    ),
    "assembly": ("ICCPR Art. 21", "the right of peaceful assembly"),
    "association": ("ICCPR Art. 22", "freedom of association with others"),
    "participation": (
        "ICCPR Art. 25",
        "taking part in the conduct of public affairs, directly or through representatives",
    ),
    "fair_hearing": ("ICCPR Art. 14", "a fair hearing before rights are determined"),
    "collective_punishment": (
        "Collective punishment",
        "penalties only for one's own acts (ICCPR Art. 14-15; Geneva Convention IV Art. 33)",
    ),
    "missing_notice": ("Safeguard: notice", "the subject is told of a record about them"),
    "missing_appeal": ("Safeguard: appeal", "the subject can contest a record about them"),
    "missing_expiry": ("Safeguard: expiry", "records and listings end after a set time"),
}
"""Finding codes: (the law or safeguard, what it protects)."""

SEVERITY_OF: dict[str, str] = {
    "unrelated_context": "prohibited",
    "disproportionate": "prohibited",
    "special_category": "prohibited",
    "collective_punishment": "prohibited",
    "automated_decision": "high",
    "movement": "high",
    "expression": "high",
    "religion": "high",
    "assembly": "high",
    "association": "high",
    "participation": "high",
    "fair_hearing": "high",
    "missing_notice": "medium",
    "missing_appeal": "medium",
    "missing_expiry": "medium",
}
"""Each finding code's severity (one of SEVERITIES)."""


def severity_class(points: float) -> str:
    """Gravity of a record from its points: minor, general or serious (ASSUMED classes)."""
    p = abs(points)
    if p < MINOR_POINTS:
        return "minor"
    if p < SERIOUS_POINTS:
        return "general"
    return "serious"
