from attune_shared.statuses import ExecutionStatus


def test_branches_start_sorted_by_name_and_join_all_waits_for_every_branch(workflow):
    run = workflow("join.yaml")
    step = run.report("start")
    assert run.new(step) == [("left", None), ("middle", None), ("right", None)]
    assert run.report("right").dispatches == ()
    assert run.report("left").dispatches == ()
    step = run.report("middle")
    # Branch layers arrive in the order the branches completed: right, then left wins ``side``.
    assert [(d.task_id, d.input) for d in step.dispatches] == [("meet", {"message": "left"})]
    step = run.report("meet")
    assert step.result == {"output": {"side": "left", "left_done": True}}


def test_join_count_starts_once_on_the_second_arrival(workflow):
    run = workflow("join_count.yaml")
    run.report("a")
    assert run.report("z").dispatches == ()
    assert run.new(run.report("x")) == [("first_two", None)]
    assert run.report("y").dispatches == ()
    step = run.report("first_two")
    assert step.status is ExecutionStatus.COMPLETED
    assert [d.task_id for d in run.started].count("first_two") == 1


def test_a_join_that_can_no_longer_be_satisfied_fails_the_workflow(workflow):
    run = workflow("join_unreachable.yaml")
    run.report("a")
    run.report("x")
    step = run.report("y", "failed", {"stderr": "boom"})
    assert step.status is ExecutionStatus.FAILED
    assert step.result == {
        "output": None,
        "errors": [
            {
                "type": "error",
                "message": "Execution failed. See result for details.",
                "task_id": "y",
                "result": {"stderr": "boom"},
            },
            {
                "type": "error",
                "message": 'UnreachableJoinError: The join task|route "both|0" is partially '
                "satisfied but unreachable.",
                "task_id": "both",
                "route": 0,
            },
        ],
    }
