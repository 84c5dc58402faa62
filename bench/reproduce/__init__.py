"""`bench reproduce --data DATASET`: the paper's whole pipeline on one dataset, resumably.

`plan.py` lists the steps (the `bench` commands, in the only order that works), `budgets.py`
what each budget trains and what a step costs, `execute.py` runs the steps not yet done.
"""

from __future__ import annotations

from pathlib import Path

from bench.reproduce.plan import Plan, build_plan, hours, shipped_runs


def describe(plan: Plan, states: list[str]) -> list[str]:
    """The dry run's lines: each step with its estimate, the shipped checkpoint's measured time
    where one exists for this dataset, its state and its command; then the totals."""
    lines = [f"reproduce --data {plan.data} --budget {plan.budget}: {len(plan.steps)} steps into {plan.out}", *plan.notes]
    for i, (step, state) in enumerate(zip(plan.steps, states)):
        measured = f", shipped checkpoint took {hours(step.measured_s)}" if step.measured_s else ""
        lines.append(f"  [{i + 1}] {step.name}: {state}; estimate {hours(step.estimate_s)}{measured}")
        lines.append(f"      bench {' '.join(step.argv)}")
    left = sum(s.estimate_s for s, state in zip(plan.steps, states) if state != "done")
    lines.append(f"estimate: {hours(sum(s.estimate_s for s in plan.steps))} in all, {hours(left)} left to run")
    pairs = [(s.estimate_s, s.measured_s) for s in plan.steps if s.measured_s]
    if pairs:
        est, meas = (sum(p[0] for p in pairs), sum(p[1] for p in pairs))
        lines.append(f"steps with a shipped checkpoint: this budget's estimate {hours(est)}; the shipped checkpoints took "
                     f"{hours(meas)} (their own, smaller or larger, budgets: see below)")
    for stem, est, meas in shipped_runs(plan.dataset_name):
        lines.append(f"  estimator on {stem}'s last run (its steps, its -j): {hours(est)} against {hours(meas)} measured ({est / meas:.2f}x)")
    return lines


def reproduce(data: str, budget: str, out: Path | None, jobs: int, dry_run: bool, say=print) -> int:
    """Plan, then print it (dry run) or run what is not done; returns the number of steps run."""
    from bench.reproduce.execute import run_plan, status

    plan = build_plan(data, budget, out or Path("results") / "reproduce" / data.replace(":", "-").replace("/", "_"), jobs)
    if dry_run:
        for line in describe(plan, status(plan)):
            say(line)
        return 0
    for note in plan.notes:
        say(note)
    ran = run_plan(plan, say)
    say(f"reproduce: {ran} step(s) run, {len(plan.steps) - ran} already done; report: {plan.out / 'report' / 'report.html'}")
    return ran
