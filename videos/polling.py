"""The poll loop: many polls in flight in every worker process, the work shared out by claims.

A Poller keeps up to GATEWAY_POLL_CONCURRENCY polls in flight, each on a worker thread of its own
with its own database connection (closed when the thread ends); no model instance is used by two
threads. Its main thread claims due tasks (services.claim_due: one transaction, each task's next poll
pushed a lease out first) whenever no more jobs are waiting or running than there are threads, and
claims enough to keep every thread busy until the next claim: the queue holds about one poll's time
of work, so a claimed task is polled long before its lease runs out. Every poller on every machine
(the scheduled tick in each qcluster, ``manage.py poll`` beside it) claims from the same rows; on
PostgreSQL SKIP LOCKED hands each a disjoint set without waiting, so N pollers sweep N times as fast.

Where a vendor answers many tasks in one call (Adaptor.poll_many: Kling's and OpenAI's task lists),
the claimed tasks of one channel go together as one job, topped up with that channel's other due
tasks (up to POLL_MANY_MAX); those the call did not answer are then polled one by one.

A vendor's 429 pauses its channel (services.pause_channel: Channel.poll_paused_until, from its
Retry-After): claims leave the channel's tasks alone until then, and those this process claimed
already are given back, due when the pause ends, instead of being polled. Every other channel is
polled at full speed meanwhile.

Housekeeping (the heartbeat, expire_overdue, the webhook sweep) runs in the main thread every
HOUSEKEEPING_EVERY seconds, not on every claim. Several processes doing it at once is harmless:
every transition in it is a conditional update, won by one of them.

Stopping (stop(), or the end of a tick's time): nothing more is claimed; the threads finish the
jobs claimed already (about one poll's time of work) within ``grace`` seconds. Tasks no thread got
to by then are given back, due at once for the next poller; a poll still running has its task polled
again when its lease ends.
"""

import logging
import queue
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections
from django.utils import timezone

from channels import metrics as upstream_metrics
from channels import services as routing
from channels.adaptors.base import AdaptorError

from . import services, webhooks
from .models import Heartbeat

log = logging.getLogger(__name__)

POLL_MANY_MAX = 1000  # tasks of one channel asked about in one poll_many() job
HOUSEKEEPING_EVERY = 5  # seconds between two rounds of heartbeat, expiry and webhook sweep
IDLE_WAIT = 0.5  # seconds between two looks for due tasks while none is due (or every thread is busy)
STOP_GRACE = 20  # seconds the polls in flight get to finish once the poller stops
# A claimed task still waiting for a thread this close to the end of its lease is left alone: another
# poller may take it when the lease ends, and two polls of one task at once are only wasteful.
LEASE_MARGIN = timedelta(seconds=15)
DATABASE_DOWN = (OperationalError, InterfaceError)


def configured_concurrency():
    return settings.GATEWAY_POLL_CONCURRENCY


class Pauses:
    """The channels this process knows to be paused (a 429 seen here, or read at a claim)."""

    def __init__(self):
        self._until = {}
        self._lock = threading.Lock()

    def note(self, channel_id, until):
        with self._lock:
            known = self._until.get(channel_id)
            self._until[channel_id] = until if known is None else max(known, until)

    def until(self, channel_id):
        """When the channel's pause ends, or None when it is not paused now."""
        with self._lock:
            until = self._until.get(channel_id)
        return until if until is not None and until > timezone.now() else None


# --- One pass in the calling thread (services.poll_once) -------------------------------------------


def poll_due(now, limit):
    """Claim up to ``limit`` due tasks (and the top-ups of the jobs asking many at once) and poll them
    in this thread; returns how many tasks were taken."""
    paused = services.paused_channels(now)
    pauses = Pauses()
    polled = 0
    for job in jobs_for(services.claim_due(now, limit, paused=paused), now, paused):
        for task in poll_together(job, pauses) if len(job) > 1 else job:
            poll_alone(task, pauses)
        polled += len(job)
    return polled


# --- Jobs: one task, or several of one channel asked about in one call ------------------------------


def jobs_for(tasks, now, paused):
    """Claimed tasks as jobs: lists of one task, but for the tasks of a channel whose vendor answers
    many in one call; those go together, topped up with more of that channel's due tasks."""
    jobs, together = [], {}
    for task in tasks:
        if _askable_together(task):
            together.setdefault(task.channel_id, []).append(task)
        else:
            jobs.append([task])
    for group in together.values():
        if len(group) < POLL_MANY_MAX:
            group += services.claim_due(now, POLL_MANY_MAX - len(group), paused=paused, channel=group[0].channel)
        jobs += [group[start : start + POLL_MANY_MAX] for start in range(0, len(group), POLL_MANY_MAX)]
    return jobs


def _askable_together(task):
    """A task poll_many() can answer: its vendor job is known and not done yet, at a vendor that lists."""
    channel = task.channel
    return bool(channel and channel.adaptor.supports_poll_many and task.vendor_task_id and not task.vendor_completed_at)


def poll_together(job, pauses):
    """Ask the vendor about the claimed tasks of one channel in one call (Adaptor.poll_many) and act on
    its answers; returns the tasks it did not answer, to be polled one by one. When the call fails they
    are all polled alone: a broken list must not stall them, and at a vendor that is down those polls
    fail and back off as any other."""
    channel = job[0].channel
    until = pauses.until(channel.pk)
    if until is not None:
        for task in job:
            services.release(task, until)
        return []
    since = min(task.submitted_at or task.created_at for task in job).timestamp()
    try:
        ctx = routing.call_context(channel)
        with routing.scrubbed(ctx), upstream_metrics.calling(channel.vendor, "poll"):
            results = channel.adaptor.poll_many(ctx, [task.ref() for task in job], since)
    except AdaptorError as exc:
        if exc.rate_limited:
            until = services.pause_channel(channel, exc)
            pauses.note(channel.pk, until)
            for task in job:
                services.release(task, until)
            return []
        log.warning(
            "Polling %d tasks of %s in one call failed (%s); polling each alone", len(job), channel, exc.message
        )
        return job
    except Exception:
        log.exception("Polling %d tasks of %s in one call failed; polling each alone", len(job), channel)
        return job
    left = []
    for task in job:
        result = results.get(task.vendor_task_id)
        if result is None:
            left.append(task)  # not in the list (further down, or gone): its own poll says which
            continue
        result.error_message = routing.scrub(result.error_message, ctx.credentials)
        services.answered(task, result)
    return left


def poll_alone(task, pauses):
    """Poll one claimed task, unless its channel was paused since the claim: then give it back, due
    when the pause ends (a video the vendor finished is delivered all the same)."""
    until = pauses.until(task.channel_id) if task.channel_id else None
    if until is not None and task.vendor_completed_at is None:
        services.release(task, until)
        return
    services.poll_task(task)
    paused_until = task.channel.poll_paused_until if task.channel else None
    if paused_until is not None and paused_until > timezone.now():  # this poll got a 429
        pauses.note(task.channel_id, paused_until)


def refresh_connection():
    """What Django does when a request starts, done for each job and each round of claims: close this
    thread's connection if it is past CONN_MAX_AGE or known broken, and have it checked before its
    next query (CONN_HEALTH_CHECKS)."""
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def reset_connection():
    """After the database failed: drop this thread's connection, so the next query opens a fresh one."""
    if not connection.in_atomic_block:
        connection.close()


# --- The loop ------------------------------------------------------------------------------------


class Poller:
    """Up to ``concurrency`` polls in flight until stop() or the time given to run() is over (see the
    module docstring). One per process: ``manage.py poll`` runs one until SIGTERM, the scheduled tick
    one for GATEWAY_TICK_SECONDS."""

    def __init__(self, concurrency=None, grace=STOP_GRACE):
        self.concurrency = max(1, concurrency or configured_concurrency())
        self.grace = grace
        self.polled = 0
        self.pauses = Pauses()
        self._jobs = queue.SimpleQueue()
        self._pending = 0  # jobs queued or running
        self._room = threading.Condition()  # guards _pending and polled; notified when a job ends
        # Set by stop(), which a signal handler calls: a plain flag, never a lock (the handler may
        # interrupt the main thread holding one); every wait in the loop is short and checks it.
        self._stop_requested = False
        self._grace_over = False  # the threads give back the jobs they take from then on
        self._next_housekeeping = 0.0

    def stop(self):
        """Claim nothing more; run() returns once the polls in flight are done. Safe in a signal handler."""
        self._stop_requested = True

    def run(self, seconds=None):
        """Poll until stop(), or with ``seconds`` until they have passed (one round of claims at
        least), then stop. Returns how many claimed tasks were polled (or given back to a pause)."""
        end = None if seconds is None else time.monotonic() + seconds
        workers = [
            threading.Thread(target=self._work, name=f"poller-{n}", daemon=True) for n in range(self.concurrency)
        ]
        for worker in workers:
            worker.start()
        try:
            while not self._stop_requested:
                busy = self._step()
                if end is not None and time.monotonic() >= end:
                    break
                if not busy:  # nothing due, or the database is down: look again in a moment
                    wait = IDLE_WAIT if end is None else min(IDLE_WAIT, end - time.monotonic())
                    time.sleep(max(0.0, wait))
        finally:
            self._finish(workers)
        return self.polled

    def _step(self):
        """Housekeeping when it is due, then one claim if a thread will be free. True when tasks were
        claimed or every thread is busy (look again at once), False when there was nothing to do."""
        try:
            refresh_connection()
            self._housekeeping()
            room = self._wait_for_room()
            if not room:
                return True
            now = timezone.now()
            paused = services.paused_channels(now)
            for channel_id, until in paused.items():
                self.pauses.note(channel_id, until)
            tasks = services.claim_due(now, room, paused=paused)
            for job in jobs_for(tasks, now, paused):
                self._put(job)
            return bool(tasks)
        except DATABASE_DOWN as exc:
            # The database went away (restart, failover, network): keep the loop alive and retry on a
            # fresh connection, so polling resumes as soon as it is back.
            log.warning("Poller: database unavailable (%s); retrying", exc)
            reset_connection()
            return False
        except Exception:
            # A bug must not stop every poll of this process: say so loudly, and try again in a moment
            # (the tasks claimed by this round are polled when their leases end).
            log.exception("Poller: claiming due tasks failed")
            return False

    def _housekeeping(self):
        if time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + HOUSEKEEPING_EVERY
        Heartbeat.beat("poller")
        services.expire_overdue(timezone.now())
        webhooks.sweep()  # queue the webhook deliveries that are due, each as its own job

    def _wait_for_room(self):
        """How many tasks to claim: once no more jobs are queued or running than there are threads,
        enough for twice that (every thread busy until the next claim); 0 after a short wait otherwise."""
        with self._room:
            self._room.wait_for(lambda: self._pending <= self.concurrency or self._stop_requested, IDLE_WAIT)
            if self._stop_requested or self._pending > self.concurrency:
                return 0
            return 2 * self.concurrency - self._pending

    def _put(self, job):
        with self._room:
            self._pending += 1
        self._jobs.put(job)

    def _done(self, polled):
        with self._room:
            self._pending -= 1
            self.polled += polled
            self._room.notify()

    def _work(self):
        """One worker thread: run jobs until the sentinel (None); its database connection is its own."""
        try:
            while (job := self._jobs.get()) is not None:
                polled = 0
                try:
                    refresh_connection()
                    polled = self._attempt(job)
                except DATABASE_DOWN as exc:
                    log.warning("Poller: database unavailable mid-poll (%s); polled again when the lease ends", exc)
                    reset_connection()
                except Exception:
                    log.exception("Polling %s failed", ", ".join(task.public_id for task in job))
                finally:
                    self._done(polled)
        finally:
            connections.close_all()

    def _attempt(self, job):
        """Run a job; once more on a fresh connection if the database failed. A connection that broke
        while this thread was idle (the database restarted meanwhile) fails at its first query: the
        job's claim, made on the main thread's connection, must not be wasted on that."""
        try:
            return self._run(job)
        except DATABASE_DOWN:
            reset_connection()
        return self._run(job)  # a second poll of a task is harmless; still down: the lease runs out

    def _run(self, job):
        """Poll one job's tasks; returns how many were polled."""
        now = timezone.now()
        if self._grace_over:
            for task in job:
                services.release(task, now)
            return 0
        if now >= job[0].next_poll_at - LEASE_MARGIN:
            log.warning("%d claimed tasks waited until their lease nearly ran out; left to the next claim", len(job))
            return 0
        if len(job) == 1:
            poll_alone(job[0], self.pauses)
            return 1
        left = poll_together(job, self.pauses)
        for task in left:
            self._put([task])  # each on a thread of its own
        return len(job) - len(left)

    def _finish(self, workers):
        """Stop: the threads finish the jobs claimed (``grace`` at most), then what is left is given back."""
        self._stop_requested = True
        for _ in workers:
            self._jobs.put(None)  # after the jobs queued: each thread ends once the queue is done
        deadline = time.monotonic() + self.grace
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._grace_over = True
        self._release_queued()
        running = sum(worker.is_alive() for worker in workers)
        if running:
            log.warning(
                "Poller stopped with %d polls still in flight after %d s; their tasks are polled again when "
                "their leases end",
                running,
                self.grace,
            )

    def _release_queued(self):
        """Give back the tasks of the jobs no thread started, due now: the next poller takes them at
        once instead of waiting out their leases. A thread still polling keeps its sentinel."""
        sentinels = 0
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                sentinels += 1
                continue
            try:
                for task in job:
                    services.release(task, timezone.now())
            except DATABASE_DOWN:
                reset_connection()  # their leases run out instead
            finally:
                self._done(0)
        for _ in range(sentinels):
            self._jobs.put(None)
