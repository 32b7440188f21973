"""How a problem reads on the terminal."""

from __future__ import annotations

from exchange.config.problems import Problem, Severity, render_path, sort_problems


def test_error_reads_file_line_column_path_message_hint_and_rule():
    problem = Problem(
        path=("vpn", "tunnels", 1, "insideCidr"),
        message="169.254.169.252/30 is reserved by AWS",
        hint="pick another /30 in 169.254.0.0/16",
        rule="VPN-09",
        line=27,
        col=19,
    )
    assert problem.format("customer.yaml") == (
        "customer.yaml:27:19: vpn.tunnels[1].insideCidr: 169.254.169.252/30 is "
        "reserved by AWS; pick another /30 in 169.254.0.0/16 (VPN-09)"
    )


def test_warning_is_marked_after_the_position():
    problem = Problem(
        path=("onPremises", "customerGatewayIp"),
        message="203.0.113.10 is in a documentation range",
        hint="use your device's public address",
        rule="CGW-01",
        severity="warning",
        line=22,
        col=22,
    )
    assert problem.format("c.yaml") == (
        "c.yaml:22:22: warning: onPremises.customerGatewayIp: 203.0.113.10 is in a "
        "documentation range; use your device's public address (CGW-01)"
    )


def test_problem_without_hint_has_no_dangling_separator():
    problem = Problem(path=("a",), message="m", hint="", rule="R", line=1, col=1)
    assert problem.format("f") == "f:1:1: a: m (R)"


def test_path_renders_indices_in_brackets():
    assert render_path(("exchanges", 0, "clientNetworks", 2)) == (
        "exchanges[0].clientNetworks[2]"
    )


def test_empty_path_renders_as_the_document():
    assert render_path(()) == "document"


def test_problems_sort_by_line_then_column_errors_first():
    def at(line: int, col: int, severity: Severity = "error") -> Problem:
        return Problem((), "m", "", "R", severity, line, col)

    problems = [at(3, 1), at(1, 5, "warning"), at(1, 5), at(1, 2)]
    assert [(p.line, p.col, p.severity) for p in sort_problems(problems)] == [
        (1, 2, "error"),
        (1, 5, "error"),
        (1, 5, "warning"),
        (3, 1, "error"),
    ]
