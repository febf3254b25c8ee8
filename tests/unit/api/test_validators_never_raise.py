"""Validators the private API calls on request bodies list problems; they never raise (a 500)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cxloop.webhooks.model import WebhookInput, validate_webhook

_url_like = st.builds(
    lambda scheme, host, rest: f"{scheme}://{host}{rest}",
    st.sampled_from(["http", "https", "ftp", "HTTP", ""]),
    st.text(alphabet="[]:@.%0123456789abcdefx/-", max_size=30),
    st.text(max_size=20),
)


@given(url=_url_like | st.text(max_size=60))
def test_validate_webhook_lists_problems_for_any_url(url: str) -> None:
    problems = validate_webhook(WebhookInput(url=url or "x", events=["alert.opened"]))
    assert all(isinstance(problem, str) and problem for problem in problems)


def test_unclosed_ipv6_bracket_is_a_problem_not_an_exception() -> None:
    [problem] = validate_webhook(WebhookInput(url="http://[::1", events=["alert.opened"]))
    assert "cannot be parsed" in problem
