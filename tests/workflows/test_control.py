import pytest

from attune_shared.statuses import ExecutionStatus

FAILED = {
    "type": "error",
    "message": "Execution failed. See result for details.",
    "task_id": "work",
    "result": {"return_code": 1},
}


def test_noop_remediates_a_failure(workflow):
    run = workflow("errors.yaml")
    step = run.report("work", "failed", {"return_code": 1})
    assert step.status is ExecutionStatus.COMPLETED
    assert step.result == {"output": {"progress": 50}}


def test_fail_fails_the_workflow_but_runs_the_cleanup_staged_beside_it(workflow):
    run = workflow("errors.yaml", on_error="fail")
    step = run.report("work", "failed", {"return_code": 1})
    assert step.status is ExecutionStatus.FAILED
    assert run.new(step) == [("cleanup", None)]
    step = run.report("cleanup")
    assert step.status is ExecutionStatus.FAILED
    assert step.result == {
        "output": {"progress": 25},
        "errors": [
            FAILED,
            {"type": "error", "message": "Execution failed. See result for details.", "task_id": "fail"},
        ],
    }


def test_continue_does_not_remediate(workflow):
    run = workflow("errors.yaml", on_error="continue")
    step = run.report("work", "timeout", {"return_code": 1})
    assert step.status is ExecutionStatus.FAILED
    assert step.result == {"output": {"progress": 10}, "errors": [FAILED]}


def test_retry_counts_retries_fires_on_success_and_uses_its_own_delay(workflow):
    run = workflow("retry.yaml")
    assert [(d.key, d.delay, d.input) for d in run.step.dispatches] == [
        ("flaky.r0.e0.a0", 3, {"url": "http://127.0.0.1/"})
    ]
    step = run.report("flaky", result={"status_code": 503})
    assert [(d.key, d.delay) for d in step.dispatches] == [("flaky.r0.e0.a1", 7)]
    step = run.report("flaky", "failed", {"status_code": 500})
    assert [(d.key, d.delay) for d in step.dispatches] == [("flaky.r0.e0.a2", 7)]
    step = run.report("flaky", "failed", {"status_code": 500})
    assert step.status is ExecutionStatus.FAILED  # count 2: three runs, then the last status stands
    assert len(run.started) == 3


def test_cycles_reenter_tasks_until_the_condition_leaves(workflow):
    run = workflow("cycle.yaml")
    for _ in range(3):
        run.report("attempt")
    assert run.find("done").input == {"message": 3}
    step = run.report("done")
    assert step.result == {"output": {"tries": 3}}
    assert [d.key for d in run.started] == [
        "attempt.r0.e1.a0",
        "attempt.r0.e3.a0",
        "attempt.r0.e5.a0",
        "done.r0.e7.a0",
    ]


def test_pause_lets_running_children_finish_and_resume_continues(workflow):
    from attune_shared.workflows import cancel, pause, resume

    run = workflow("join.yaml")
    run.report("start")
    step = pause(run.spec, run.state)
    assert step.status is ExecutionStatus.PAUSING
    run.state = step.state
    run.report("left")
    run.report("middle")
    step = run.report("right")
    assert step.status is ExecutionStatus.PAUSED and step.dispatches == ()
    step = run._take(resume(run.spec, run.state))
    assert step.status is ExecutionStatus.RUNNING and run.new(step) == [("meet", None)]
    step = run._take(cancel(run.spec, run.state))
    assert step.status is ExecutionStatus.CANCELING
    step = run.report("meet")
    assert step.status is ExecutionStatus.CANCELLED
    assert step.result == {"output": {"side": "right", "left_done": True}}  # right arrived last


def test_a_pending_child_pauses_the_workflow_until_it_completes(workflow):
    from attune_shared.workflows import resume

    run = workflow("join.yaml")
    run.report("start")
    step = run.report("left", "pending")
    assert step.status is ExecutionStatus.PAUSING
    run.report("middle")
    step = run.report("right")
    assert step.status is ExecutionStatus.PAUSED
    step = run._take(resume(run.spec, run.state))
    assert step.status is ExecutionStatus.RESUMING
    step = run.report("left")
    assert step.status is ExecutionStatus.RUNNING and run.new(step) == [("meet", None)]


def test_a_cancelled_child_cancels_the_workflow(workflow):
    run = workflow("sequential.yaml", who="x")
    step = run.report("greet", "cancelled")
    assert step.status is ExecutionStatus.CANCELLED
    assert step.dispatches == ()


def test_cancel_renders_an_output_that_reads_a_child_s_result_given_the_results(workflow):
    """Cancelling a workflow waiting on a pending child ends it at once; its output may read that
    child's result (``task(ask).result``), which the conductor asks for and is then given."""
    from attune_shared.workflows import ResultsNeeded, Runtime, cancel

    run = workflow("asks.yaml")
    run.report("ask", "pending")
    with pytest.raises(ResultsNeeded) as need:
        cancel(run.spec, run.state)
    [key] = need.value.keys
    step = cancel(run.spec, run.state, runtime=Runtime({key: {"route": "ops"}}))
    assert step.status is ExecutionStatus.CANCELLED
    assert step.result == {"output": {"route": "ops"}}
