"""Grade on a Slurm cluster: dask-jobqueue submits the Dask workers as Slurm jobs, then the grading
command runs against them and the workers are cancelled.

    python deploy/dask/slurm_grade.py --workers 40 --partition normal -- a2_conv_backward
    python deploy/dask/slurm_grade.py --print-job-script      # what one worker's job runs

Run it on a login node, in the course folder, with the course's Python environment (this package
with the slurm extra) on a file system the compute nodes see: the workers import this package, but
the course and the submissions stay here (each task carries its notebook). Every node needs
bubblewrap with unprivileged user namespaces (`python -m autograder grade` refuses without it).
Everything after `--` goes to `python -m autograder grade`.
"""

import argparse
import sys

from dask_jobqueue import SLURMCluster

from autograder.__main__ import main as autograder


def slurm_cluster(args):
    """One single-threaded worker per Slurm job: a notebook at a time on one core."""
    return SLURMCluster(cores=1, processes=1, memory=args.memory, walltime=args.walltime, queue=args.partition,
                        account=args.account, job_name="cnn-grading", python=sys.executable,
                        scheduler_options={"host": args.scheduler_host})


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ours, grade = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=20, help="Slurm jobs, one worker each (default 20)")
    parser.add_argument("--partition", help="Slurm partition (queue)")
    parser.add_argument("--account", help="Slurm account")
    parser.add_argument("--memory", default="4GB", help="memory per worker job (default 4GB: a kernel may use 2 GB)")
    parser.add_argument("--walltime", default="02:00:00", help="time limit per worker job (default 02:00:00)")
    parser.add_argument("--scheduler-host", default="", help="the address workers reach this node at (default: all)")
    parser.add_argument("--print-job-script", action="store_true", help="print a worker's job script and stop")
    args = parser.parse_args(ours)
    if not args.print_job_script and not grade:
        parser.error("give the grading arguments after --, e.g. -- a2_conv_backward")
    with slurm_cluster(args) as cluster:
        if args.print_job_script:
            print(cluster.job_script())
            return
        cluster.scale(jobs=args.workers)
        autograder(["grade", *grade, "--scheduler", cluster.scheduler_address])


if __name__ == "__main__":
    main()
