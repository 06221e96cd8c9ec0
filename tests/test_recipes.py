"""kazoo's recipes (Lock, Election, Counter, Queue, LockingQueue, Barrier, DoubleBarrier,
Semaphore) with several clients in threads: a server must support what real applications
build on it. Every wait is bounded."""

import threading
import time

import pytest
from kazoo.exceptions import LockTimeout

JOIN_TIMEOUT = 60.0


def run_threads(targets):
    errors = []

    def wrap(fn, *args):
        def run():
            try:
                fn(*args)
            except BaseException as e:  # collected and reported by the test
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(*t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "worker threads did not finish in time"
    assert not errors, errors


class Occupancy:
    """Counts concurrent holders and remembers the maximum."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.max = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.max = max(self.max, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def test_lock_mutual_exclusion(zk_factory, root):
    clients = [zk_factory() for _ in range(3)]
    counter_path = f"{root}/value"
    clients[0].create(counter_path, b"0")
    occ = Occupancy()
    rounds = 8

    def worker(c, ident):
        lock = c.Lock(f"{root}/lock", ident)
        for _ in range(rounds):
            assert lock.acquire(timeout=30), "lock not acquired"
            try:
                with occ:
                    v = int(c.get(counter_path)[0])
                    time.sleep(0.002)
                    c.set(counter_path, str(v + 1).encode())
            finally:
                lock.release()

    run_threads([(worker, c, f"w{i}") for i, c in enumerate(clients)])
    assert occ.max == 1
    assert int(clients[0].get(counter_path)[0]) == rounds * len(clients)
    assert clients[0].get_children(f"{root}/lock") == []


def test_lock_released_when_holder_session_closes(zk_factory, root):
    a, b = zk_factory(), zk_factory()
    la = a.Lock(f"{root}/lock", "a")
    assert la.acquire(timeout=10)
    lb = b.Lock(f"{root}/lock", "b")
    with pytest.raises(LockTimeout):
        lb.acquire(timeout=0.5)
    assert lb.contenders() == ["a"]
    a.stop()  # the holder's ephemeral goes with its session
    assert lb.acquire(timeout=10)
    lb.release()


def test_election(zk_factory, root):
    clients = [zk_factory() for _ in range(3)]
    occ = Occupancy()
    leaders = []
    release = threading.Event()

    def lead(ident):
        with occ:
            leaders.append(ident)
            release.wait(0.2)

    def worker(c, ident):
        c.Election(f"{root}/election", ident).run(lead, ident)

    run_threads([(worker, c, f"n{i}") for i, c in enumerate(clients)])
    assert sorted(leaders) == ["n0", "n1", "n2"]
    assert occ.max == 1


def test_election_contenders(zk_factory, root):
    a, b = zk_factory(), zk_factory()
    started, stop = threading.Event(), threading.Event()

    def lead():
        started.set()
        stop.wait(20)

    t = threading.Thread(target=a.Election(f"{root}/e", "alpha").run, args=(lead,), daemon=True)
    t.start()
    try:
        assert started.wait(10)
        eb = b.Election(f"{root}/e", "beta")
        assert eb.contenders() == ["alpha"]
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()


def test_counter(zk_factory, root):
    clients = [zk_factory() for _ in range(3)]

    def worker(c):
        counter = c.Counter(f"{root}/counter")
        for _ in range(10):
            counter += 1

    run_threads([(worker, c) for c in clients])
    assert clients[0].Counter(f"{root}/counter").value == 30
    fc = clients[0].Counter(f"{root}/fcounter", default=0.0)
    fc += 2.5
    fc -= 1.0
    assert fc.value == 1.5


def test_queue_fifo_and_exactly_once(zk_factory, root):
    producer = zk_factory()
    q = producer.Queue(f"{root}/queue")
    items = [f"item-{i}".encode() for i in range(30)]
    for it in items[:5]:
        q.put(it)
    assert [q.get() for _ in range(5)] == items[:5]  # FIFO
    assert q.get() is None

    for it in items[5:]:
        q.put(it)
    consumers = [zk_factory() for _ in range(3)]
    got, lock = [], threading.Lock()

    def consume(c):
        cq = c.Queue(f"{root}/queue")
        while True:
            v = cq.get()
            if v is None:
                return
            with lock:
                got.append(v)

    run_threads([(consume, c) for c in consumers])
    assert sorted(got) == sorted(items[5:])  # each item exactly once


def test_queue_priority(zk, root):
    q = zk.Queue(f"{root}/pq")
    q.put(b"low", priority=50)
    q.put(b"high", priority=10)
    q.put(b"mid", priority=30)
    assert len(q) == 3
    assert [q.get(), q.get(), q.get()] == [b"high", b"mid", b"low"]


def test_locking_queue(zk_factory, root):
    producer, consumer = zk_factory(), zk_factory()
    pq = producer.LockingQueue(f"{root}/lq")
    pq.put_all([b"a", b"b", b"c"])
    assert len(pq) == 3
    cq = consumer.LockingQueue(f"{root}/lq")
    assert cq.get(timeout=10) == b"a"
    assert cq.holds_lock()
    # the entry is not released to others while held: the release puts it back
    assert cq.release()
    assert cq.get(timeout=10) == b"a"
    assert cq.consume()
    assert cq.get(timeout=10) == b"b"
    assert cq.consume()
    assert cq.get(timeout=10) == b"c"
    assert cq.consume()
    assert cq.get(timeout=0.5) is None
    assert len(cq) == 0


def test_barrier(zk_factory, root):
    owner = zk_factory()
    barrier = owner.Barrier(f"{root}/barrier")
    barrier.create()
    waiters = [zk_factory() for _ in range(2)]
    passed = []
    ready = threading.Barrier(len(waiters) + 1, timeout=20)

    def wait(c, i):
        b = c.Barrier(f"{root}/barrier")
        ready.wait()
        assert b.wait(timeout=30)
        passed.append(i)

    threads = [threading.Thread(target=wait, args=(c, i), daemon=True)
               for i, c in enumerate(waiters)]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(0.5)
    assert passed == []
    barrier.remove()
    for t in threads:
        t.join(30)
    assert sorted(passed) == [0, 1]
    assert owner.Barrier(f"{root}/barrier").wait(timeout=1)  # no barrier node: passes


def test_double_barrier(zk_factory, root):
    n = 3
    clients = [zk_factory() for _ in range(n)]
    inside = Occupancy()
    entered_all = []

    def worker(c, i):
        db = c.DoubleBarrier(f"{root}/db", n, identifier=f"p{i}")
        db.enter()
        with inside:
            time.sleep(0.1)
            entered_all.append(inside.now)
        db.leave()

    run_threads([(worker, c, i) for i, c in enumerate(clients)])
    assert inside.max == n  # nobody ran before all had entered


def test_semaphore(zk_factory, root):
    clients = [zk_factory() for _ in range(4)]
    occ = Occupancy()

    def worker(c, i):
        sem = c.Semaphore(f"{root}/sem", identifier=f"s{i}", max_leases=2)
        for _ in range(2):
            assert sem.acquire(timeout=30)
            try:
                with occ:
                    time.sleep(0.05)
            finally:
                sem.release()

    run_threads([(worker, c, i) for i, c in enumerate(clients)])
    assert 1 <= occ.max <= 2
