"""The provider on a production topology (tests/e2e/production.py): PostgreSQL, the CeleryExecutor with
two workers, two triggerers. What a dying triggerer or worker does to deferred tasks, to the asset watcher
and to sends, and what watching costs with two triggerers.

On PostgreSQL the 48 deferred tasks resume at once; on SQLite (Airflow 3.0) they had to be staggered.

Each scenario talks to an emulator of its own, whose counters hold only its requests; the emulators'
clocks are frozen, so an operation finishes only when the test says so (after the kill).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import airflow
import psutil
import pytest
from packaging.version import Version

from airflow_provider_twilio_push.emulator import EmulatorProcess
from airflow_provider_twilio_push.emulator.wire import ROUTE_GET, ROUTE_LIST, ROUTE_SEND

from .deployment_dags.e2e_deployment_campaign import AUDIENCE, CHUNK_SIZE
from .deployment_dags.e2e_deployment_failover import SENDS, SENSORS, STATS
from .harness import AirflowHarness, wait_until
from .production import CELERY_WORKERS, TRIGGERERS, run_production_airflow

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
EXAMPLE_DAGS = HERE.parents[1] / "example_dags"
FAILOVER_DAG = "e2e_deployment_failover"
CAMPAIGN_DAG = "e2e_deployment_campaign"
EVENTS_DAG = "example_twilio_push_events"
EVENTS_ASSET = "twilio_push_finished_operations"
#: Sensors whose operation the test cancels (through the emulator's control API, as a user would in
#: Twilio's console): every fourth.
CANCELED = range(0, SENSORS, 4)
#: The stats operators whose operation breaches their max_failure_rate of 5%: the odd ones.
BREACHING = range(1, STATS, 2)
#: Where the triggerer gives event triggers the asset's state store: the position survives a move.
STATE_STORE = Version(airflow.__version__) >= Version("3.3")
#: The tasks' poll interval (seconds) in e2e_deployment_failover.
POLL_INTERVAL = 2.0
#: How long the operations stay PROCESSING (on the frozen clocks) unless the test advances them.
LONG = 600


@pytest.fixture(scope="module")
def failover_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(args=["--duration", str(LONG)]) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def events_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def campaign_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def production(
    tmp_path_factory: pytest.TempPathFactory,
    failover_emulator: EmulatorProcess,
    events_emulator: EmulatorProcess,
    campaign_emulator: EmulatorProcess,
) -> Iterator[AirflowHarness]:
    """The topology, with this module's DAGs and, of the examples, example_twilio_push_events (whose
    asset watcher then watches ``events_emulator`` through ``twilio_push_default``)."""
    examples = tmp_path_factory.mktemp("examples")
    (examples / f"{EVENTS_DAG}.py").symlink_to(EXAMPLE_DAGS / f"{EVENTS_DAG}.py")
    for emulator in (failover_emulator, campaign_emulator):
        emulator.control.freeze()
    env = {
        **events_emulator.conn_env,
        "AIRFLOW_CONN_TWILIO_PUSH_FAILOVER": failover_emulator.conn_json,
        "AIRFLOW_CONN_TWILIO_PUSH_CAMPAIGN": campaign_emulator.conn_json,
    }
    home = tmp_path_factory.mktemp("airflow-production")
    with run_production_airflow(home, [HERE / "deployment_dags", examples], env) as harness:
        print(f"\nproduction topology started in {harness.startup_seconds:.0f} s")
        yield harness


def ensure_triggerers(harness: AirflowHarness) -> None:
    """Both triggerers running (a test before may have killed one)."""
    for name in TRIGGERERS:
        if name not in harness.processes:
            harness.start_triggerer(name)


def task_triggers(harness: AirflowHarness, dag_id: str, run_id: str) -> dict[str, int | None]:
    """The triggerer job of each deferred task's trigger, by task id."""
    rows = harness.db_query(
        "SELECT ti.task_id, t.triggerer_id FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
        "WHERE ti.dag_id = ? AND ti.run_id = ? AND ti.state = 'deferred'",
        [dag_id, run_id],
    )
    return {row["task_id"]: row["triggerer_id"] for row in rows}


def watched_requests(emulator: EmulatorProcess, seconds: float) -> dict[str, int]:
    """The list and GET requests the emulator serves over ``seconds``."""
    control = emulator.control
    before = {route: control.request_count(route) for route in (ROUTE_LIST, ROUTE_GET)}
    time.sleep(seconds)  # a measurement window, not a wait for something
    return {route: control.request_count(route) - before[route] for route in before}


def test_triggerer_failover(production: AirflowHarness, failover_emulator: EmulatorProcess) -> None:
    """48 deferred tasks spread over both triggerers; the one holding most is SIGKILLed. Every task ends
    with its operation's result on the other, once, and no operation is sent again or canceled."""
    harness, control = production, failover_emulator.control
    ensure_triggerers(harness)
    sensor_operations = [control.create_operation(total=10, duration=LONG)["id"] for _ in range(SENSORS)]
    stats_operations = [
        control.create_operation(total=10, duration=LONG, failure_ratio=0.5 if i in BREACHING else 0.0)["id"]
        for i in range(STATS)
    ]
    harness.wait_for_dag(FAILOVER_DAG, timeout=180)
    run_id = harness.trigger_dag(
        FAILOVER_DAG, conf={"sensor_operations": sensor_operations, "stats_operations": stats_operations}
    )
    tasks = SENSORS + SENDS + STATS

    def all_assigned() -> dict[str, int] | None:
        triggers = task_triggers(harness, FAILOVER_DAG, run_id)
        if len(triggers) < tasks or None in triggers.values():
            return None
        return triggers  # type: ignore[return-value]

    triggers = wait_until(all_assigned, 900, f"the {tasks} tasks to defer to a triggerer", interval=2)
    jobs = {job: name for name, job in harness.triggerer_jobs.items()}
    split = Counter(jobs[job] for job in triggers.values())
    # What watching costs with two triggerers, then one: requests per watched operation-interval.
    window = 5 * POLL_INTERVAL
    two = watched_requests(failover_emulator, window)
    assert len(split) == 2, f"every trigger went to one triggerer: {split}"
    [(victim, _), *_] = split.most_common()
    print(f"\n{tasks} deferred tasks over the triggerers: {dict(split)}; killing {victim}")
    harness.kill_component(victim)
    survivor = next(name for name in TRIGGERERS if name != victim)
    survivor_job = harness.triggerer_jobs[survivor]

    def all_moved() -> bool:
        triggers = task_triggers(harness, FAILOVER_DAG, run_id)
        return len(triggers) == tasks and set(triggers.values()) == {survivor_job}

    wait_until(all_moved, 300, f"{survivor} to take every trigger over", interval=1)
    one = watched_requests(failover_emulator, window)
    sends = control.request_count(ROUTE_SEND)
    for i in CANCELED:
        control.cancel(sensor_operations[i])
    control.advance(LONG + 60)
    assert harness.wait_for_run(FAILOVER_DAG, run_id, timeout=900) == "failed"  # the breaching stats

    instances = {ti["task_id"]: ti for ti in harness.task_instances(FAILOVER_DAG, run_id)}
    outcome = {task_id: (ti["state"], ti["try_number"]) for task_id, ti in instances.items()}
    expected = {
        **{f"wait_{i:02d}": ("success", 1) for i in range(SENSORS)},
        **{f"send_and_wait_{i}": ("success", 1) for i in range(SENDS)},
        **{f"stats_{i}": ("failed" if i in BREACHING else "success", 1) for i in range(STATS)},
    }
    assert outcome == expected
    for i in range(SENSORS):
        status = harness.xcom(FAILOVER_DAG, run_id, f"wait_{i:02d}")["status"]
        assert status == ("CANCELED" if i in CANCELED else "COMPLETED"), i
    for i in range(SENDS):
        assert harness.xcom(FAILOVER_DAG, run_id, f"send_and_wait_{i}")["status"] == "COMPLETED"
    for i in range(STATS):
        stats = harness.xcom(FAILOVER_DAG, run_id, f"stats_{i}")
        assert ("errors" in stats) == (i in BREACHING), (i, stats)
    breach = harness.task_log(FAILOVER_DAG, run_id, f"stats_{BREACHING[0]}")
    assert "above max_failure_rate=5.0%" in breach

    # Nothing sent again, nothing canceled but what the test canceled: each send task sent once
    # (before the kill), and every other operation completed.
    assert control.request_count(ROUTE_SEND) == sends == SENDS
    assert control.request_count(ROUTE_SEND, 202) == SENDS
    send_operations = [
        harness.xcom(FAILOVER_DAG, run_id, f"send_and_wait_{i}", key="operation_id") for i in range(SENDS)
    ]
    statuses = {
        operation_id: control.operation(operation_id)["operation"]["status"]
        for operation_id in [*sensor_operations, *stats_operations, *send_operations]
    }
    canceled = {sensor_operations[i] for i in CANCELED}
    assert {op for op, status in statuses.items() if status == "CANCELED"} == canceled
    assert {op for op, status in statuses.items() if status == "COMPLETED"} == set(statuses) - canceled

    # Which triggerer fired each task's event, and what: none fired on the dead one (the operations
    # were still PROCESSING); if one fired twice, both say the same.
    events: dict[str, list[str]] = {task_id: [] for task_id in expected}
    for task_id in expected:
        for job, log in harness.trigger_logs(FAILOVER_DAG, run_id, task_id).items():
            fired = [line for line in log.splitlines() if "Trigger fired event" in line]
            assert job != harness.triggerer_jobs[victim] or not fired, (task_id, fired)
            events[task_id] += fired
    # The lines a trigger logs last can land in its triggerer's own log instead (harness.triggerer_lines).
    for line in harness.triggerer_lines("Trigger fired event").splitlines():
        task_id = line.partition(" task_id=")[2].partition(" ")[0]
        if run_id in line and task_id in events:
            events[task_id].append(line)
    victim_log = harness.component_logs[victim].read_text(errors="replace").splitlines()
    assert not [line for line in victim_log if run_id in line and "Trigger fired event" in line]
    statuses_fired = {task_id: {fired_status(line) for line in lines} for task_id, lines in events.items()}
    assert all(len(fired) == 1 for fired in statuses_fired.values()), statuses_fired
    duplicates = {task_id: len(lines) for task_id, lines in events.items() if len(lines) > 1}
    print(
        f"failover: {tasks} tasks ({SENSORS} sensors, {SENDS} send-and-wait, {STATS} stats), all on "
        f"{survivor} after the kill; trigger events: {sum(map(len, events.values()))}, "
        f"duplicated: {duplicates or 'none'}; sends {control.request_count(ROUTE_SEND)}; "
        f"canceled {len(canceled)} (by the test)"
    )
    print(
        f"watching {tasks} operations ({window:.0f} s, poll interval {POLL_INTERVAL:.0f} s): two triggerers "
        f"{two} = {sum(two.values()) / (tasks * window / POLL_INTERVAL):.3f} requests per operation-interval; "
        f"one triggerer {one} = {sum(one.values()) / (tasks * window / POLL_INTERVAL):.3f}"
    )
    # Each triggerer sweeps its operations once per interval (give or take one) and reads none with a
    # GET (the tasks passed createdAt on): a GET per task and interval would be 24 requests a second.
    intervals = window / POLL_INTERVAL
    assert two[ROUTE_GET] == one[ROUTE_GET] == 0
    assert 1 <= one[ROUTE_LIST] <= intervals + 2
    assert 2 <= two[ROUTE_LIST] <= 2 * (intervals + 2)


def fired_status(line: str) -> str:
    """The status of the event a "Trigger fired event" line shows."""
    return line.partition("'status': '")[2].partition("'")[0]


def asset_events(harness: AirflowHarness) -> list[str]:
    """The operation id of each event of the example's asset, oldest first."""
    rows = harness.db_query(
        "SELECT ae.extra FROM asset_event ae JOIN asset a ON a.id = ae.asset_id WHERE a.name = ? "
        "ORDER BY ae.id",
        [EVENTS_ASSET],
    )
    return [
        (row["extra"] if isinstance(row["extra"], dict) else json.loads(row["extra"]))["payload"]["id"]
        for row in rows
    ]


def watcher_triggerer(harness: AirflowHarness) -> int | None:
    rows = harness.db_query(
        "SELECT triggerer_id FROM trigger WHERE classpath LIKE ?", ["%TwilioPushOperationEventTrigger"]
    )
    return rows[0]["triggerer_id"] if len(rows) == 1 else None


def test_asset_watcher_failover(production: AirflowHarness, events_emulator: EmulatorProcess) -> None:
    """example_twilio_push_events's watcher moves to the other triggerer when the one running it is
    SIGKILLed: operations finishing before it moves, while it moves (seen running by the old triggerer,
    finished once it is dead) and after it moved each yield an asset event."""
    harness, control = production, events_emulator.control
    ensure_triggerers(harness)
    harness.wait_for_dag(EVENTS_DAG, timeout=180)
    poll_interval = 60  # the example's

    def listings() -> int:
        return control.request_count(ROUTE_LIST, 200)

    def next_sweep(timeout: float = poll_interval * 2 + 60) -> None:
        target = listings() + 1
        wait_until(lambda: listings() >= target, timeout, "the watcher's next sweep", interval=0.5)

    def create(count: int, duration: float) -> list[str]:
        return [control.create_operation(total=10, duration=duration)["id"] for _ in range(count)]

    def reported(operations: list[str]) -> bool:
        return set(operations) <= set(asset_events(harness))

    live = set(harness.triggerer_jobs.values())
    holder = wait_until(
        lambda: watcher_triggerer(harness) in live and watcher_triggerer(harness), 300, "the watcher"
    )
    wait_until(lambda: listings() >= 1, poll_interval * 2 + 60, "the watcher's first sweep")
    # Frozen now, not earlier: the watcher's first sweep starts a minute before the present, and
    # an operation created on a clock frozen longer ago (minutes of start-up on a loaded machine)
    # would lie before it.
    control.freeze()
    before, during = create(3, duration=10), create(3, duration=LONG)
    control.advance(20)
    wait_until(lambda: reported(before), poll_interval * 2 + 60, "the events of the first operations")

    victim = next(name for name, job in harness.triggerer_jobs.items() if job == holder)
    harness.kill_component(victim)
    control.advance(LONG)  # the operations the dead triggerer saw running finish
    survivor_job = next(job for name, job in harness.triggerer_jobs.items() if name != victim)
    wait_until(lambda: watcher_triggerer(harness) == survivor_job, 300, "the watcher to move")
    if STATE_STORE:
        wait_until(lambda: reported(before + during), poll_interval * 2 + 60, "the moved watcher's events")
    else:
        next_sweep()

    after = create(3, duration=10)
    control.advance(20)
    wait_until(lambda: reported(before + after), poll_interval * 2 + 60, "the events after the move")
    events = Counter(asset_events(harness))
    duplicates = {op: count for op, count in events.items() if count > 1}
    lists = control.request_count(ROUTE_LIST)
    print(
        f"\nasset watcher failover: {len(events)} operations finished, {sum(events.values())} asset events, "
        f"duplicated: {duplicates or 'none'}; of the {len(during)} finished while it moved: "
        f"{len(set(during) & set(events))} reported; {lists} list requests in all"
    )
    if STATE_STORE:
        assert set(events) == set(before + during + after)
    else:  # no position survives the move: what finished meanwhile may go unreported (README)
        assert set(before + after) <= set(events) <= set(before + during + after)


def worker_of(harness: AirflowHarness, pid: int) -> str | None:
    """The Celery worker whose processes include ``pid``."""
    for name in CELERY_WORKERS:
        proc = harness.processes.get(name)
        if proc is None:
            continue
        try:
            tree = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        if any(child.pid == pid for child in tree):
            return name
    return None


def test_worker_killed_mid_campaign_retries_on_the_other_exactly_once(
    production: AirflowHarness, campaign_emulator: EmulatorProcess
) -> None:
    """The campaign's worker dies (SIGKILL, with its task processes) after Twilio accepted some of its
    chunks, one of them maybe without the worker reading the answer; the task is retried on the other
    worker, which sends only the chunks Twilio had not accepted: every recipient gets exactly one
    notification (the emulator's record of accepted sends is the judge)."""
    harness, control = production, campaign_emulator.control
    chunks = len(AUDIENCE) // CHUNK_SIZE
    # Each send's answer comes 3 s after Twilio accepted it: the worker dies between the two.
    control.set_faults(rate_slow=1.0, slow_seconds=3, routes=[ROUTE_SEND])
    harness.wait_for_dag(CAMPAIGN_DAG, timeout=180)
    run_id = harness.trigger_dag(CAMPAIGN_DAG)
    wait_until(lambda: control.request_count(ROUTE_SEND, 202) >= 2, 300, "two chunks to be accepted")
    pid = wait_until(lambda: harness.task_instance(CAMPAIGN_DAG, run_id, "campaign")["pid"], 60, "the pid")
    worker = wait_until(lambda: worker_of(harness, pid), 30, "the worker running the campaign")
    harness.kill_component(worker)
    accepted_before = control.request_count(ROUTE_SEND, 202)
    control.clear_faults()

    assert harness.wait_for_run(CAMPAIGN_DAG, run_id, timeout=600) == "success"
    assert harness.task_instance(CAMPAIGN_DAG, run_id, "campaign")["try_number"] == 2
    counts = control.recipient_counts()
    assert counts == {recipient["token"]: 1 for recipient in AUDIENCE}
    assert control.request_count(ROUTE_SEND, 202) == chunks
    # The retry asked Twilio (the chunks' tags) and adopted what the first try had sent.
    retry_log = harness.task_log(CAMPAIGN_DAG, run_id, "campaign", try_number=2)
    assert retry_log.count("was accepted already") == accepted_before
    result = harness.xcom(CAMPAIGN_DAG, run_id, "campaign")
    assert len(set(result["operation_ids"])) == chunks
    print(
        f"\nworker killed mid-campaign ({worker}, {accepted_before} of {chunks} chunks accepted): try 2 on "
        f"the other worker; {control.request_count(ROUTE_SEND, 202)} chunks accepted in all, "
        f"{len(counts)} recipients with one notification each, {len(control.recipient_counts(min_count=2))} "
        f"with more; {control.request_count()} requests in all"
    )
