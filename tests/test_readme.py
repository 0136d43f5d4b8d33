"""The README's quick start is the one example not included from a tested file (a Git host's page
cannot include one): it builds here, with the arguments it shows, so that it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_quick_start_builds_its_three_tasks_in_order() -> None:
    [code] = re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.MULTILINE | re.DOTALL)
    namespace: dict[str, Any] = {}

    with DAG("readme_quick_start", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        exec(compile(code, str(README), "exec"), namespace)

    assert set(dag.task_ids) == {"send_push", "wait_for_operation", "operation_stats"}
    assert namespace["send"].downstream_task_ids == {"wait_for_operation"}
    assert namespace["wait"].downstream_task_ids == {"operation_stats"}
    assert type(namespace["wait"]).__name__ == "TwilioPushOperationSensor"
    assert namespace["wait"].deferrable is True
    assert namespace["stats"].max_failure_rate == 0.02
