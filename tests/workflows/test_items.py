import json

from attune_shared.statuses import ExecutionStatus
from attune_shared.workflows import ResultsNeeded, Runtime, child_changed


def test_with_items_respects_concurrency_and_zips_the_lists(workflow):
    run = workflow("items.yaml", hosts=["a", "b", "c"])
    assert [(d.item, d.input) for d in run.step.dispatches] == [
        (0, {"cmd": "probe a:22"}),
        (1, {"cmd": "probe b:80"}),
    ]
    step = run.report("probe", result={"stdout": "B"}, item=1)
    assert [(d.item, d.input) for d in step.dispatches] == [(2, {"cmd": "probe c:None"})]
    assert run.report("probe", result={"stdout": "C"}, item=2).dispatches == ()
    step = run.report("probe", result={"stdout": "A"}, item=0)
    assert run.new(step) == [("summary", None)]
    step = run.report("summary")
    assert step.result == {"output": {"outs": ["A", "B", "C"], "count": 3}}


def test_an_item_failure_stops_the_items_not_started(workflow):
    run = workflow("items.yaml", hosts=["a", "b", "c", "d"], limit=1)
    step = run.report("probe", "failed", {"stdout": "", "stderr": "no"}, item=0)
    assert step.status is ExecutionStatus.FAILED
    assert step.dispatches == ()
    undefined = (
        "YaqlEvaluationException: Unable to evaluate expression '<% ctx({0}) %>'. "
        'VariableUndefinedError: The variable "{0}" is undefined.'
    )
    # The output renders even on failure; what was never published is an error of its own.
    assert step.result == {
        "output": None,
        "errors": [
            {
                "type": "error",
                "message": "Execution failed. See result for details.",
                "task_id": "probe",
                "result": {"stdout": "", "stderr": "no"},
            },
            {"type": "error", "message": undefined.format("outs")},
            {"type": "error", "message": undefined.format("count")},
        ],
    }


def test_empty_items_succeed_at_once_and_delay_applies_to_each_item(workflow):
    run = workflow("items_plain.yaml", names=[])
    assert run.step.status is ExecutionStatus.COMPLETED
    assert run.step.result == {"output": {"got": []}}
    run = workflow("items_plain.yaml", names=["x", "y"])
    assert [(d.item, d.input, d.delay) for d in run.step.dispatches] == [
        (0, {"message": "x"}, 5),
        (1, {"message": "y"}, 5),
    ]


def test_the_results_of_other_items_are_asked_for_when_missing(workflow):
    run = workflow("items.yaml", hosts=["a", "b"])
    first, second = run.step.dispatches
    state = child_changed(run.spec, run.state, first.key, "completed", {"stdout": "A"}).state
    try:
        child_changed(run.spec, state, second.key, "completed", {"stdout": "B"})
    except ResultsNeeded as needed:
        assert needed.keys == [first.key]
    else:
        raise AssertionError("the result of the first item was not asked for")
    step = child_changed(
        run.spec,
        state,
        second.key,
        "completed",
        {"stdout": "B"},
        runtime=Runtime({first.key: {"stdout": "A"}}),
    )
    assert [d.task_id for d in step.dispatches] == ["summary"]


def test_a_thousand_items_twenty_at_a_time_keep_the_state_compact(workflow):
    hosts = [f"h{i}" for i in range(1000)]
    run = workflow("items.yaml", hosts=hosts, ports=[], limit=20)
    assert len(run.step.dispatches) == 20
    peak = 0
    while run.outstanding:
        dispatch = run.outstanding[0]
        run.report(
            "probe" if dispatch.task_id == "probe" else dispatch.task_id,
            result={"stdout": "ok"},
            item=dispatch.item,
        )
        peak = max(peak, sum(1 for d in run.outstanding if d.task_id == "probe"))
        assert peak <= 20
    assert run.step.status is ExecutionStatus.COMPLETED
    assert len([d for d in run.started if d.task_id == "probe"]) == 1000
    # One copy of the context (the host list) however many items: no per-item context.
    assert len(json.dumps(run.state)) < 3 * len(json.dumps(hosts)) + 40_000
