"""Rule coverage of the policy by its truth table (``monespace policy coverage``).

oso has no coverage of its own, so the policy is measured on a rewritten copy. Every rule of
every ``*.polar`` file is given two calls of a tracer, one before its body and one after it:

    head if BODY;    ->    head if tracer.reached(N) and (BODY) and tracer.held(N);

so the tracer learns which rules the truth table's questions *reached* (their head matched a
question and their body was tried) and which *held* (their body was proved at least once). The
shorthand rules of a resource block (``"owner" if "access_manager";``) are rewritten to the
``has_role`` / ``has_permission`` rules oso expands them to, traced the same way. The truth
table is then run, unchanged, against the rewritten copy; the original files are only read.

A rule is *covered* when it held at least once: the table has a question it decides. A rule
reached but never held is only ever refused by the table, which tests none of what it gives.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from authz import db, policytest, schema
from authz.engine import PolicyEngine, PolicyError, policy_files

TRACER = "policy_coverage_tracer"
_SHORTHAND = re.compile(r'^"(?P<head>\w+)"\s+if\s+"(?P<body>\w+)"$')
_BLOCK_START = re.compile(r"^(?P<kind>resource|actor)\s+(?P<type>\w+)\s*$")
_LIST = re.compile(r"^(?P<name>roles|permissions)\s*=\s*\[(?P<items>.*)\]$", re.S)


@dataclass
class Rule:
    file: str
    line: int
    text: str  # the head, or the shorthand rule, on one line
    reached: int = 0
    held: int = 0

    @property
    def state(self) -> str:
        if self.held:
            return "covered"
        return "reached, never held" if self.reached else "never reached"


@dataclass
class Tracer:
    """Counts, by rule number, the rules reached and held (named in Polar as :data:`TRACER`)."""

    reached_counts: dict[int, int] = field(default_factory=dict)
    held_counts: dict[int, int] = field(default_factory=dict)

    def reached(self, number: int) -> bool:
        self.reached_counts[number] = self.reached_counts.get(number, 0) + 1
        return True

    def held(self, number: int) -> bool:
        self.held_counts[number] = self.held_counts.get(number, 0) + 1
        return True


@dataclass(frozen=True)
class Statement:
    start: int  # offset of its first character
    end: int  # offset of its ';' (or of the closing '}' of a block)
    text: str


def statements(source: str, start: int = 0, stop: int | None = None) -> list[Statement]:
    """The statements of ``source[start:stop]``: rules ending in ``;`` and ``resource``/
    ``actor`` blocks ending in ``}``, comments and strings skipped."""
    stop = len(source) if stop is None else stop
    found: list[Statement] = []
    i, begin, depth = start, None, 0
    while i < stop:
        char = source[i]
        if char == "#":
            i = source.find("\n", i)
            i = stop if i == -1 else i
            continue
        if begin is None and not char.isspace():
            begin = i
        if char == '"':
            i += 1
            while i < stop and source[i] != '"':
                i += 2 if source[i] == "\\" else 1
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if char == "}" and depth == 0 and begin is not None:
                found.append(Statement(begin, i, source[begin : i + 1]))
                begin = None
        elif char == ";" and depth == 0 and begin is not None:
            found.append(Statement(begin, i, source[begin:i]))
            begin = None
        i += 1
    return found


def _split_if(text: str) -> tuple[str, str | None]:
    """(head, body) of a rule; body None for a rule without one."""
    depth, i = 0, 0
    while i < len(text):
        char = text[i]
        if char == '"':
            i = text.index('"', i + 1)
        elif char == "#":
            i = text.find("\n", i)
            if i == -1:
                break
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif (
            depth == 0
            and text.startswith("if", i)
            and text[i - 1].isspace()
            and text[i + 2 : i + 3].isspace()
        ):
            return text[:i].rstrip(), text[i + 2 :]
        i += 1
    return text, None


def _line(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


def _one_line(text: str) -> str:
    without_comments = re.sub(r"#[^\n]*", "", text)
    return " ".join(without_comments.split())


def _traced(number: int, body: str | None) -> str:
    inner = f" and ({body}) and " if body is not None else " and "
    return f"{TRACER}.reached({number}){inner}{TRACER}.held({number})"


def instrument(name: str, source: str, rules: list[Rule]) -> str:
    """``source`` with every rule traced; each rule found is appended to ``rules`` and
    numbered by its index there."""
    out: list[str] = []
    appended: list[str] = []
    # oso expands a shorthand rule for every declared actor type: name the one declared
    # here, else oso's union of them all.
    blocks = [m for m in map(_BLOCK_START.match, _block_heads(source)) if m]
    actors = [m.group("type") for m in blocks if m.group("kind") == "actor"]
    actor_type = actors[0] if len(actors) == 1 else "Actor"
    cursor = 0
    for statement in statements(source):
        out.append(source[cursor : statement.start])
        block = None
        if statement.text.endswith("}"):
            block = _BLOCK_START.match(statement.text.partition("{")[0].strip())
        if block is not None:
            text, extra = _instrument_block(
                name, source, statement, block.group("type"), actor_type, rules
            )
            out.append(text)
            appended.extend(extra)
            cursor = statement.end + 1
            continue
        rule_head, body = _split_if(statement.text)
        rules.append(Rule(name, _line(source, statement.start), _one_line(rule_head)))
        out.append(f"{rule_head} if {_traced(len(rules) - 1, body)}")
        cursor = statement.end  # the ';' is kept
    out.append(source[cursor:])
    return "".join(out) + "".join(f"\n{rule}" for rule in appended)


def _block_heads(source: str) -> list[str]:
    return [s.text.partition("{")[0].strip() for s in statements(source) if s.text.endswith("}")]


def _instrument_block(
    name: str,
    source: str,
    block: Statement,
    resource_type: str,
    actor_type: str,
    rules: list[Rule],
) -> tuple[str, list[str]]:
    """The block with its shorthand rules taken out (blanks keep the offsets), and the
    rules oso expands them to, traced."""
    opening = source.index("{", block.start) + 1
    inner = statements(source, opening, block.end)
    declared: dict[str, list[str]] = {"roles": [], "permissions": []}
    for statement in inner:
        if m := _LIST.match(statement.text.strip()):
            items = re.sub(r"#[^\n]*", "", m.group("items"))
            declared[m.group("name")] = re.findall(r'"(\w+)"', items)
    text = list(source[block.start : block.end + 1])
    expanded: list[str] = []
    for statement in inner:
        m = _SHORTHAND.match(" ".join(statement.text.split()))
        if m is None:
            if " if " in f" {statement.text} ":
                raise PolicyError(
                    f"{name}:{_line(source, statement.start)}: this form of shorthand rule "
                    "cannot be measured yet"
                )
            continue
        head, body = m.group("head"), m.group("body")
        rules.append(Rule(name, _line(source, statement.start), _one_line(statement.text)))
        number = len(rules) - 1
        head_rule = "has_role" if head in declared["roles"] else "has_permission"
        body_rule = "has_role" if body in declared["roles"] else "has_permission"
        expanded.append(
            f'{head_rule}(actor: {actor_type}, "{head}", resource: {resource_type}) if '
            + _traced(number, f'{body_rule}(actor, "{body}", resource)')
            + ";"
        )
        for offset in range(statement.start, statement.end + 1):
            if text[offset - block.start] != "\n":
                text[offset - block.start] = " "
    return "".join(text), expanded


def measure(
    policy_dir: Path, table: policytest.TruthTable
) -> tuple[list[Rule], list[tuple[str, str | None]]]:
    """Every rule of ``policy_dir`` with its counts, and the table's results, from running
    ``table`` against a traced copy on a throw-away SQLite database. The caller's database
    binding is replaced (as ``monespace policy test`` does)."""
    PolicyEngine(policy_dir)  # the files as they are load, or say why not
    rules: list[Rule] = []
    tracer = Tracer()
    with tempfile.TemporaryDirectory(prefix="monespace-policy-coverage-") as tmp:
        copy = Path(tmp) / "policies"
        copy.mkdir()
        for path in policy_files(policy_dir):
            source = path.read_text(encoding="utf-8")
            (copy / path.name).write_text(instrument(path.name, source, rules), encoding="utf-8")
        engine = PolicyEngine(copy, constants={TRACER: tracer})
        database = db.connect(f"sqlite:///{tmp}/coverage.sqlite3")
        with db.connection():
            schema.upgrade()
            policytest.populate(table)
            results = policytest.run(engine, table)
        database.close()
    for number, rule in enumerate(rules):
        rule.reached = tracer.reached_counts.get(number, 0)
        rule.held = tracer.held_counts.get(number, 0)
    return rules, results
