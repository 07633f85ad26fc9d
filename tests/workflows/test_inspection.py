from attune_shared.workflows import inspect, load_workflow, start

from .conftest import CONTEXT, FILES

TASK = r"properties.tasks.patternProperties.^\w+$"


def test_inspection_reports_every_problem_in_orquestas_shape():
    spec = load_workflow(FILES / "broken.yaml")
    catalog = {
        "core.echo": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        }
    }
    errors = inspect(spec, catalog=lambda refs: {ref: catalog[ref] for ref in refs if ref in catalog})
    assert errors == [
        {
            "type": "content",
            "message": 'The action reference "core.local cmd=date" is not formatted correctly.',
            "spec_path": "tasks.second.action",
            "schema_path": f"{TASK}.properties.action",
        },
        {
            "type": "content",
            "message": 'The action "core.noop" is not registered in the database.',
            "spec_path": "tasks.noop.action",
            "schema_path": f"{TASK}.properties.action",
        },
        {
            "type": "context",
            "language": "yaql",
            "expression": "<% ctx(nope) %>",
            "message": 'Variable "nope" is referenced before assignment.',
            "spec_path": "tasks.first.input",
            "schema_path": f"{TASK}.properties.input",
        },
        {
            "type": "expression",
            "language": "yaql",
            "expression": "<% <% succeeded() %>",
            "message": "Parse error: unexpected '<' at position 0 of expression '<% succeeded()'",
            "spec_path": "tasks.first.next[0].when",
            "schema_path": f"{TASK}.properties.next.items.properties.when",
        },
        {
            "type": "semantic",
            "message": "The action property is required for with items task.",
            "spec_path": "tasks.each",
            "schema_path": TASK,
        },
        {
            "type": "semantic",
            "message": 'The task name "noop" is reserved with special function.',
            "spec_path": "tasks.noop",
            "schema_path": TASK,
        },
        {
            "type": "semantic",
            "message": 'The task "ghost" is not defined.',
            "spec_path": "tasks.first.next[0].do",
            "schema_path": f"{TASK}.properties.next.items.properties.do",
        },
        {
            "type": "syntax",
            "message": "Additional properties are not allowed ('description' was unexpected)",
            "spec_path": "tasks.second",
            "schema_path": f"{TASK}.additionalProperties",
        },
    ]


def test_a_workflow_failing_inspection_fails_at_start_with_the_errors():
    spec = load_workflow(FILES / "broken.yaml")
    step = start(spec, {}, CONTEXT)
    assert step.status.value == "failed" and step.dispatches == ()
    assert step.result == {"errors": inspect(spec), "output": None}


def test_a_loop_without_an_entry_task_has_no_start():
    from attune_shared.workflows import WorkflowSpec

    spec = WorkflowSpec.from_data(
        {"version": 1.0, "tasks": {"a": {"next": [{"do": "b"}]}, "b": {"next": [{"do": "a"}]}}}
    )
    assert [e["message"][:40] for e in inspect(spec)] == ["Unable to identify any tasks to start th"]
