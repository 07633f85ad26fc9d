from attune_shared.statuses import ExecutionStatus


def test_sequential_tasks_publish_and_output(workflow):
    run = workflow("sequential.yaml", who="Ada")
    assert run.new(run.step) == [("greet", None)]
    greet = run.find("greet")
    assert (greet.action, greet.input, greet.key) == (
        "core.echo",
        {"message": "hello, Ada", "count": 2},
        "greet.r0.e0.a0",
    )

    step = run.report("greet", result={"stdout": "hello, Ada"})
    assert step.status is ExecutionStatus.RUNNING
    assert run.find("shout").input == {"cmd": "echo HELLO, ADA"}

    step = run.report("shout", result={"stdout": "HELLO, ADA"})
    assert step.dispatches == ()  # finish has no action: it completed in the same step
    assert step.status is ExecutionStatus.COMPLETED
    assert step.result == {
        "output": {"said": "hello, Ada", "loud": "HELLO, ADA", "length": 10, "steps": 2, "done": True}
    }


def test_a_present_none_beats_the_input_default(workflow):
    run = workflow("sequential.yaml", who="Ada", greeting=None)
    assert run.find("greet").input["message"] == "None, Ada"


def test_a_repeated_completion_changes_nothing(workflow):
    run = workflow("sequential.yaml", who="Ada")
    key = run.find("greet").key
    run.report("greet", result={"stdout": "x"})
    from attune_shared.workflows import child_changed

    again = child_changed(run.spec, run.state, key, "completed", {"stdout": "x"})
    assert again.dispatches == () and again.state == run.state
