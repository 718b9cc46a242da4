"""Notification rules (`NOTIFICATION_RULES`, read from the S3 object `NOTIFICATION_RULES_URI`) and the Jinja2
templates they select.

A rule is `{pipeline, step, status, mute, subject, body}` (the `notifications.rules` entries of the env file).
`pipeline`, `step` and `status` are fnmatch patterns; the first matching rule wins. An execution-level event
has no step: it is matched with the step name "" (so `step = "*"` covers executions too, `step = ""` only
executions). `subject`/`body` are Jinja2 templates; an empty string selects the default template.

Without a matching rule, only what people must see is sent: final execution statuses (Succeeded, Failed,
Stopped) and Failed steps. A rule can select any other status, or mute anything.

Every template is checked when the rules are loaded: a syntax error or an unknown variable is a
configuration error naming the rule, instead of a message that silently never goes out.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections import namedtuple

from batchops_core.contracts import FINAL_EXECUTION_STATUSES
from lambdas.notification import gates, published
from lambdas.notification.events import FAILED, PipelineEvent
from lambdas.shared.runtime import ConfigurationError, log

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

RULES_VARIABLE = "NOTIFICATION_RULES"
# Where Terraform puts the rules: an S3 object (s3://bucket/key), because user templates easily exceed Lambda's
# 4 KB for all environment variables (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
# NOTIFICATION_RULES (the JSON text itself) is still read when the URI is not set.
RULES_URI_VARIABLE = "NOTIFICATION_RULES_URI"
RULE_KEYS = ("pipeline", "step", "status", "mute", "subject", "body")
TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

# Every name a subject or body template may use (all are always defined; missing values are "").
TEMPLATE_VARIABLES = frozenset(
    {
        "environment",
        "project",
        "region",
        "event_id",
        "event_kind",
        "pipeline",
        "execution_id",
        "execution_arn",
        "execution_display_name",
        "step",
        "step_type",
        "status",
        "previous_status",
        "start_time",
        "end_time",
        "duration",
        "failure_reason",
        "console_link",
        "retraining",
        "drift_summary",
        "drift_violations",
        *gates.VARIABLES,
        *published.VARIABLES,
    }
)


class Rule(namedtuple("Rule", "index pipeline step status mute subject body")):
    __slots__ = ()

    def matches(self, pipeline: str, step: str, status: str) -> bool:
        return (
            fnmatch.fnmatchcase(pipeline, self.pipeline)
            and fnmatch.fnmatchcase(step, self.step)
            and fnmatch.fnmatchcase(status, self.status)
        )


# Whether an event is sent, why, and the rule whose templates are used (None: the defaults).
Decision = namedtuple("Decision", "send reason rule")


def parse_rules(raw: str) -> list[Rule]:
    """Validate the JSON list; every problem names `NOTIFICATION_RULES[i].key`."""
    if not raw.strip():
        return []
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{RULES_VARIABLE} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(document, list):
        raise ConfigurationError(f"{RULES_VARIABLE} must be a JSON list of rules, found {type(document).__name__}")
    rules = []
    for index, entry in enumerate(document):
        where = f"{RULES_VARIABLE}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{where} must be an object with keys {', '.join(RULE_KEYS)}")
        missing = [key for key in RULE_KEYS if key not in entry]
        unknown = sorted(set(entry) - set(RULE_KEYS))
        if missing or unknown:
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(unknown)}"] if unknown else []
            )
            raise ConfigurationError(f"{where}: {'; '.join(problems)} (keys are {', '.join(RULE_KEYS)})")
        for key in ("pipeline", "step", "status", "subject", "body"):
            if not isinstance(entry[key], str):
                raise ConfigurationError(f"{where}.{key} must be a string, found {type(entry[key]).__name__}")
        if not isinstance(entry["mute"], bool):
            raise ConfigurationError(f"{where}.mute must be true or false, found {entry['mute']!r}")
        rules.append(Rule(index=index, **{key: entry[key] for key in RULE_KEYS}))
    return rules


def decide(event: PipelineEvent, rules: list[Rule]) -> Decision:
    """Whether this event is sent, and with which rule's templates."""
    rule = next((r for r in rules if r.matches(event.pipeline, event.step, event.status)), None)
    if rule is not None:
        if rule.mute:
            return Decision(False, f"muted by {RULES_VARIABLE}[{rule.index}]", rule)
        return Decision(True, f"selected by {RULES_VARIABLE}[{rule.index}]", rule)
    if event.kind == "execution" and event.status in FINAL_EXECUTION_STATUSES:
        return Decision(True, "final execution status (always sent)", None)
    if event.kind == "step" and event.status == FAILED:
        return Decision(True, "failed step (always sent)", None)
    return Decision(False, f"{event.kind} status {event.status} is sent only when a rule selects it", None)


class TemplateSet:
    """The compiled default templates plus each rule's own; built once per rules text."""

    def __init__(self, rules: list[Rule]):
        import jinja2
        import jinja2.meta

        self._environment = jinja2.Environment(
            autoescape=False,  # plain-text messages, never HTML
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            finalize=lambda value: "" if value is None else value,
        )
        self._meta = jinja2.meta
        self._syntax_error = jinja2.TemplateSyntaxError
        self._template_error = jinja2.TemplateError
        self.default_subject = self._compile(_read_template("subject.j2"), "default subject")
        self.default_body = self._compile(_read_template("body.j2"), "default body")
        self._by_rule: dict[int, tuple[Any, Any]] = {}
        for rule in rules:
            where = f"{RULES_VARIABLE}[{rule.index}]"
            subject = self._compile(rule.subject, f"{where}.subject") if rule.subject else self.default_subject
            body = self._compile(rule.body, f"{where}.body") if rule.body else self.default_body
            self._by_rule[rule.index] = (subject, body)

    def _compile(self, source: str, where: str) -> Any:
        try:
            tree = self._environment.parse(source)
        except self._syntax_error as exc:
            raise ConfigurationError(
                f"{where} is not a valid Jinja2 template: {exc.message} (line {exc.lineno})"
            ) from None
        unknown = sorted(self._meta.find_undeclared_variables(tree) - TEMPLATE_VARIABLES)
        if unknown:
            raise ConfigurationError(
                f"{where} uses unknown variable(s) {', '.join(unknown)}; known: {', '.join(sorted(TEMPLATE_VARIABLES))}"
            )
        return self._environment.from_string(source)

    def render(self, rule: Rule | None, variables: dict[str, Any]) -> tuple[str, str]:
        """Subject and body; a custom template that fails at render time falls back to the defaults, with a
        note in the body, so a selected notification is never lost to its own template."""
        if rule is None:
            return _render_pair(self.default_subject, self.default_body, variables)
        try:
            return _render_pair(*self._by_rule[rule.index], variables)
        except self._template_error as exc:
            where = f"{RULES_VARIABLE}[{rule.index}]"
            log("error", f"{where}: template failed at render time; sent with the default templates", error=str(exc))
            subject, body = _render_pair(self.default_subject, self.default_body, variables)
            return subject, body + f"\n(The custom template of {where} failed: {exc}. This is the default message.)\n"


def _render_pair(subject: Any, body: Any, variables: dict[str, Any]) -> tuple[str, str]:
    return subject.render(variables).strip(), body.render(variables).strip() + "\n"


def _read_template(name: str) -> str:
    with open(os.path.join(TEMPLATE_DIR, name), encoding="utf-8") as handle:
        return handle.read()


_loaded: tuple[str, list[Rule], TemplateSet] | None = None


def load(raw: str) -> tuple[list[Rule], TemplateSet]:
    """Rules and templates for this rules text, compiled once per warm container."""
    global _loaded
    if _loaded is None or _loaded[0] != raw:
        rules = parse_rules(raw)
        _loaded = (raw, rules, TemplateSet(rules))
    return _loaded[1], _loaded[2]


_fetched: dict[str, str] = {}


def rules_text(uri: str, inline: str) -> str:
    """The rules JSON: the object at `uri`, read once per execution environment (the key is content-addressed,
    so new rules come with a new environment), else the inline text."""
    if not uri:
        return inline
    if uri not in _fetched:
        from lambdas.notification.step_outputs import OutputUnavailable, read_s3_text

        try:
            text = read_s3_text(uri)
        except OutputUnavailable as exc:
            raise ConfigurationError(f"{RULES_URI_VARIABLE}: cannot read the notification rules: {exc}") from None
        _fetched.clear()
        _fetched[uri] = text
        log("info", "notification rules read", uri=uri, bytes=len(text.encode()))
    return _fetched[uri]
