import signal

from django.core.management.base import BaseCommand

from videos import polling


class Command(BaseCommand):
    help = (
        "Poll vendors about the tasks in flight until SIGTERM or SIGINT, GATEWAY_POLL_CONCURRENCY polls at "
        "once, sharing the work with every other poller (this machine's and others') through claims."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--concurrency", type=int, default=None, help="Polls in flight at once (default GATEWAY_POLL_CONCURRENCY)"
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=polling.STOP_GRACE,
            help=f"Seconds the polls in flight get to finish once stopped (default {polling.STOP_GRACE})",
        )

    def handle(self, *args, **options):
        poller = polling.Poller(concurrency=options["concurrency"], grace=options["grace"])

        def stop(signum, frame):
            poller.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Polling with {poller.concurrency} threads; SIGTERM or Ctrl-C stops.")
        self.stdout.flush()
        polled = poller.run()
        self.stdout.write(f"Stopped; {polled} tasks polled.")
