"""The URL rule class of Parley's app: werkzeug's rule with its URL builders made on first use.

Werkzeug compiles two Python functions per rule when the rule is added (one to build the URL
with the given values, one that appends unknown values as a query string), by generating an AST
and calling `compile()`. With ~130 rules that was ~40 ms of every `create_app` (measured; about a
third of the CPU of a short API test), while Parley builds URLs for a handful of rules at most
(`url_for`), usually none. Matching does not use the builders, so deferring them changes nothing
a request sees. If a future werkzeug drops `_compile_builder`, this override is never called and
rules compile eagerly as before.
"""
from __future__ import annotations

from typing import Any, Callable

from quart.routing import QuartRule


class LazyBuildRule(QuartRule):
    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compile_now = super()._compile_builder
        attribute = "_build_unknown" if append_unknown else "_build"

        def build_on_first_use(rule: "LazyBuildRule", **values: Any) -> tuple[str, str]:
            builder = compile_now(append_unknown).__get__(rule, None)
            setattr(rule, attribute, builder)   # replaces this stub for every later call
            return builder(**values)
        return build_on_first_use
