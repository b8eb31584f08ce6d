"""Grade on a Slurm cluster: dask-jobqueue submits the Dask workers as Slurm jobs, then the grading
command runs against them and the workers are cancelled.

    python deploy/dask/slurm_grade.py --workers 40 --partition normal -- a2_conv_backward
    python deploy/dask/slurm_grade.py --print-job-script      # what one worker's job runs

Run it on a login node, in the course folder, with the course's Python environment (this package
with the slurm extra) on a file system the compute nodes see: the workers import this package, but
the course and the submissions stay here (each task carries its notebook). Every node needs
bubblewrap with unprivileged user namespaces (the workers refuse to grade without it).
Everything after `--` goes to `python -m autograder grade`.

The scheduler listens on the login node and runs code for whoever connects: scheduler, workers
and the grading command talk TLS with certificates made for this run (the workers' copies go in
--shared-dir, a private folder the compute nodes see).
"""

import argparse
import os
import sys
from pathlib import Path

import dask
from dask_jobqueue import SLURMCluster

from autograder import __main__ as cli
from autograder import app


def slurm_cluster(args):
    """One single-threaded worker per Slurm job: a notebook at a time on one core."""
    shared = Path(args.shared_dir).expanduser()
    shared.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(shared, 0o700)
    return SLURMCluster(cores=1, processes=1, memory=args.memory, walltime=args.walltime, queue=args.partition,
                        account=args.account, job_name="cnn-grading", python=sys.executable,
                        scheduler_options={"host": args.scheduler_host}, security=True,
                        shared_temp_directory=str(shared))


def client_tls(security):
    """Dask config that makes a Client (the grading command's) use ``security``'s certificates."""
    return {"distributed.comm.tls.ca-file": security.tls_ca_file,
            "distributed.comm.tls.client.cert": security.tls_client_cert,
            "distributed.comm.tls.client.key": security.tls_client_key,
            "distributed.comm.require-encryption": True}


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
    parser.add_argument("--shared-dir", default="~/.cnn-grading",
                        help="private folder on a file system the nodes see, for the workers' certificates")
    parser.add_argument("--print-job-script", action="store_true", help="print a worker's job script and stop")
    args = parser.parse_args(ours)
    if not args.print_job_script and not grade:
        parser.error("give the grading arguments after --, e.g. -- a2_conv_backward")
    grading = cli.parser().parse_args(["grade", *grade]) if grade else None
    if grading is not None and (grading.scheduler or grading.cluster):
        parser.error("the grading arguments take no --scheduler or --cluster: the Slurm workers are the cluster")
    with slurm_cluster(args) as cluster:
        if args.print_job_script:
            print(cluster.job_script())
            return
        cluster.scale(jobs=args.workers)
        cli.log_to_terminal(grading.verbose, grading.quiet)
        options = {**cli.grade_options(grading), "scheduler": cluster.scheduler_address}
        with dask.config.set(client_tls(cluster.security)):
            try:
                cli.summary(app.grade_course(grading.course, grading.assignment, **options), grading.quiet)
            except app.GradingError as error:
                sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
