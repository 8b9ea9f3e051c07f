"""graceproof.shutdown: the sentence that says how the disrupted pods went down, from
the deletions and container ends of a timeline (pure logic; tests/e2e/test_shutdowns.py
proves each case on a cluster)."""

from __future__ import annotations

import pytest

from graceproof.model import TerminationWindow, TimelineEvent
from graceproof.shutdown import PodEnd, hooks_of, pod_ends, shutdown_sentence

T0 = 1_764_400_000.0


def test_each_deleted_pod_ends_with_its_last_container() -> None:
    windows = [TerminationWindow("web-1", T0, T0 + 9), TerminationWindow("web-2", T0 + 1, T0 + 30)]
    timeline = [
        TimelineEvent(T0 - 5, "container_terminated", "web-1", {"exit_code": 1}),  # before
        TimelineEvent(
            T0 + 5.2, "container_terminated", "web-1", {"exit_code": 0, "reason": "Completed"}
        ),
        TimelineEvent(
            T0 + 5.9, "container_terminated", "web-1", {"exit_code": 143, "reason": "Error"}
        ),
        TimelineEvent(T0 + 2, "pod_deleted", "web-2", {}),  # no end seen: left out
    ]
    assert pod_ends(windows, timeline) == [PodEnd("web-1", pytest.approx(5.9), 143, "Error")]


def _ends(*lived: float, code: int = 0, reason: str = "Completed") -> list[PodEnd]:
    return [PodEnd(f"web-{i}", s, code, reason) for i, s in enumerate(lived)]


def test_an_app_that_ignores_sigterm_is_named_whatever_the_verdict() -> None:
    sentence = shutdown_sentence(_ends(20.2, 20.6, code=137, reason="Error"), hooks=0)
    assert sentence == (
        "SIGTERM did not stop the app: 2 of 2 pods kept running until their grace period "
        "ran out and were killed (exit 137, about 20.4 s after deletion)"
    )


def test_a_hook_that_outlasts_the_grace_period_is_not_called_ignored_sigterm() -> None:
    sentence = shutdown_sentence(_ends(30.1, code=137, reason="Error"), hooks=1)
    assert sentence is not None
    assert sentence.startswith("1 of 1 pods were killed at the end of their grace period")
    assert "SIGTERM did not stop" not in sentence


def test_an_oom_kill_is_no_grace_period_kill() -> None:
    sentence = shutdown_sentence(_ends(3.0, code=137, reason="OOMKilled"), hooks=0)
    assert sentence is not None and "killed" not in sentence


def test_an_app_without_a_hook_that_drains_by_itself_is_credited_with_its_own_drain() -> None:
    assert shutdown_sentence(_ends(6.1, 7.2), hooks=0) == (
        "no preStop hook: the app's own shutdown kept each pod running 6.1 to 7.2 s after "
        "SIGTERM (exit code 0)"
    )


def test_an_app_without_a_hook_that_exits_at_once() -> None:
    # Seen up to 1.5 s after deletion through the kubelet's status sync: still "at once".
    assert shutdown_sentence(_ends(1.2, 1.5, code=143, reason="Error"), hooks=0) == (
        "no preStop hook: the app exited about 1.4 s after SIGTERM (exit code 143)"
    )


def test_a_hooked_pod_is_timed_from_deletion_to_exit_and_no_words_are_invented() -> None:
    assert shutdown_sentence(_ends(5.4, 5.5), hooks=1) == (
        "with the preStop hook, each pod ran about 5.5 s from deletion to exit (exit code 0)"
    )
    unknown = shutdown_sentence(_ends(5.4), hooks=None)
    assert unknown == "each pod ran about 5.4 s from deletion to exit (exit code 0)"
    assert shutdown_sentence([], hooks=0) is None


@pytest.mark.parametrize(
    ("parameters", "hooks"),
    [
        ({"workload": {"type": "ManifestWorkload", "prestop_hooks": 2, "control": False}}, 2),
        # The derived control has its hooks removed.
        ({"workload": {"type": "ManifestWorkload", "prestop_hooks": 2, "control": True}}, 0),
        # Through an ingress controller, the workload's parameters are nested.
        ({"workload": {"type": "ThroughIngress", "workload": {"prestop_hooks": 0}}}, 0),
        ({"workload": {"type": "SampleApp", "hook": {"type": "NoHook"}}}, 0),
        ({"workload": {"type": "SampleApp", "hook": {"type": "ExecHook", "sleep_seconds": 5}}}, 1),
        # A sleep of 0 s holds nothing.
        ({"workload": {"type": "SampleApp", "hook": {"type": "SleepHook", "sleep_seconds": 0}}}, 0),
        (
            {
                "workload": {
                    "type": "ThroughIngress",
                    "workload": {"hook": {"type": "SleepHook", "sleep_seconds": 5}},
                }
            },
            1,
        ),
        # A workload kind that records no hooks (test_extension's TeamService): unknown,
        # whatever its label says.
        ({"workload": {"type": "TeamService", "prestop_sleep_s": None}}, None),
        ({}, None),
    ],
)
def test_the_hook_count_comes_from_the_results_parameters_never_its_label(
    parameters: dict[str, object], hooks: int | None
) -> None:
    assert hooks_of(parameters) == hooks  # type: ignore[arg-type]


def test_n_of_n_counts_every_deleted_pod_even_one_whose_end_was_missed() -> None:
    sentence = shutdown_sentence(_ends(20.2, code=137, reason="Error"), hooks=0, deleted=2)
    assert sentence is not None and sentence.startswith("SIGTERM did not stop the app: 1 of 2 pods")
