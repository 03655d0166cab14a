"""Fleet sweeps: one `harness run --cluster tcp://HOST:8786` sends its cases to the harness
on many machines through a Dask distributed scheduler, and gathers every record here.

Who does what:

- coordinator (`harness run --cluster`, harness/fleet/sweep.py): connects, asks every
  worker to describe its machine and plan, writes and fsyncs each record as it arrives,
  and is the only writer of results (results/<worker's machine id>/<run id>.jsonl).
- dask worker (`dask worker ADDR --nthreads 1 --resources harness=1`, started with
  Dask's own CLI): runs `harness.fleet.task.fleet_task`, a relay to
- the agent (`python -m harness.fleet.agent`, one per dask worker and run): an
  ordinary process, because Dask runs its workers as daemon processes and those may not
  start children. It takes the machine metadata and ceilings on the worker and runs each
  case in the harness's own isolated process (harness.worker.CaseSupervisor), with the
  same per-case timeouts as a local run.

Two modes: `each` runs the same plan on every machine (cross-hardware comparison);
`share` splits one plan across machines of one kind (throughput). In both, workers are
grouped by host (the kernel's boot id), and a host runs one timed case at a time.
Nothing here is imported by `import harness`; dask is needed only with `--cluster`.
"""
