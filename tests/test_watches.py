"""Watches: one-shot data/exists/child watches, event order relative to replies, NodeDeleted
semantics, persistent and persistent-recursive watches (addWatch), removeWatches, several
clients. kazoo has no addWatch/removeWatches, so those go through tests/zkwire.py."""

import threading
import time

from kazoo.protocol.states import EventType
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

import zkwire
from zkwire import EV_CHILDREN_CHANGED, EV_CREATED, EV_DATA_CHANGED, EV_DELETED

QUIET = 0.5  # how long "no further event" is observed


class Events:
    """Thread-safe kazoo watch callback that records every event."""

    def __init__(self):
        self.cv = threading.Condition()
        self.items = []

    def __call__(self, ev):
        with self.cv:
            self.items.append(ev)
            self.cv.notify_all()

    def wait(self, n=1, timeout=10.0):
        with self.cv:
            ok = self.cv.wait_for(lambda: len(self.items) >= n, timeout)
            assert ok, f"expected {n} events within {timeout}s, got {self.items}"
            return list(self.items)

    def settle(self, quiet=QUIET):
        time.sleep(quiet)
        with self.cv:
            return list(self.items)


def evs(items):
    """Raw Events as (type, path) with the state checked."""
    for e in items:
        assert e.state == zkwire.STATE_SYNC_CONNECTED
    return [(e.type, e.path) for e in items]


# -- one-shot watches through kazoo ------------------------------------------------------------
def test_data_watch_fires_once(zk, zk_factory, root):
    p = f"{root}/d"
    zk.create(p, b"0")
    ev = Events()
    zk.get(p, watch=ev)
    writer = zk_factory()
    writer.set(p, b"1")
    writer.set(p, b"2")
    got = ev.wait(1)
    assert got[0].type == EventType.CHANGED and got[0].path == p
    assert len(ev.settle()) == 1  # one-shot


def test_exists_watch_on_missing_node(zk, zk_factory, root):
    p = f"{root}/later"
    ev = Events()
    assert zk.exists(p, watch=ev) is None
    zk_factory().create(p, b"x")
    got = ev.wait(1)
    assert (got[0].type, got[0].path) == (EventType.CREATED, p)
    assert len(ev.settle()) == 1

    # exists watch on an existing node fires on data change and on delete
    ev2 = Events()
    assert zk.exists(p, watch=ev2) is not None
    zk_factory().delete(p)
    assert [(e.type, e.path) for e in ev2.wait(1)] == [(EventType.DELETED, p)]


def test_child_watch(zk, zk_factory, root):
    ev = Events()
    assert zk.get_children(root, watch=ev) == []
    w = zk_factory()
    w.create(f"{root}/a")
    got = ev.wait(1)
    assert (got[0].type, got[0].path) == (EventType.CHILD, root)
    w.create(f"{root}/b")
    assert len(ev.settle()) == 1

    # a child's data change is not a children change
    ev2 = Events()
    zk.get_children(root, watch=ev2)
    w.set(f"{root}/a", b"new")
    assert ev2.settle() == []
    w.delete(f"{root}/b")
    got = ev2.wait(1)
    assert (got[0].type, got[0].path) == (EventType.CHILD, root)


def test_watches_across_two_clients(zk_factory, root):
    a, b, writer = zk_factory(), zk_factory(), zk_factory()
    p = f"{root}/shared"
    writer.create(p, b"0")
    ea, eb = Events(), Events()
    a.get(p, watch=ea)
    b.get(p, watch=eb)
    writer.set(p, b"1")
    for e in (ea, eb):
        got = e.wait(1)
        assert (got[0].type, got[0].path) == (EventType.CHANGED, p)
    assert len(ea.settle()) == 1 and len(eb.items) == 1


def test_kazoo_watch_recipes(zk, zk_factory, root):
    p = f"{root}/recipe"
    zk.create(p, b"v0")
    seen_data, seen_children = [], []
    cv = threading.Condition()

    def on_data(data, stat):
        with cv:
            seen_data.append(data)
            cv.notify_all()

    def on_children(children):
        with cv:
            seen_children.append(sorted(children))
            cv.notify_all()

    DataWatch(zk, p, on_data)
    ChildrenWatch(zk, p, on_children)
    w = zk_factory()
    w.set(p, b"v1")
    with cv:
        assert cv.wait_for(lambda: b"v1" in seen_data, 10), seen_data
    w.create(f"{p}/k1")
    w.create(f"{p}/k2")
    with cv:
        assert cv.wait_for(lambda: seen_children and seen_children[-1] == ["k1", "k2"], 10), \
            seen_children
    w.set(p, b"v2")
    with cv:
        assert cv.wait_for(lambda: seen_data[-1:] == [b"v2"], 10), seen_data
    assert seen_data[0] == b"v0"


# -- byte-level ordering and semantics ---------------------------------------------------------
def test_event_before_reply_same_connection(wire, root, zk):
    """A write that triggers the writer's own watch: the notification precedes the reply."""
    p = f"{root}/self"
    zk.create(p, b"0")
    c = wire()
    rep, data, _ = c.get_data(p, watch=True)
    assert rep.err == 0 and data == b"0"
    c.log.clear()
    rep, st = c.set_data(p, b"1")
    assert rep.err == 0
    kinds = [k for k, _ in c.log]
    assert kinds == ["event", "reply"], c.log
    assert evs([c.log[0][1]]) == [(EV_DATA_CHANGED, p)]


def test_event_before_reply_showing_change(wire, zk, root):
    """Another client's write: the watcher sees the event before any reply revealing the new
    data."""
    p = f"{root}/other"
    zk.create(p, b"old")
    c = wire()
    assert c.get_data(p, watch=True)[1] == b"old"
    c.log.clear()
    zk.set(p, b"new")
    rep, data, _ = c.get_data(p)
    assert data == b"new"
    kinds = [k for k, _ in c.log]
    assert kinds == ["event", "reply"], c.log
    assert evs([c.log[0][1]]) == [(EV_DATA_CHANGED, p)]


def test_node_deleted_semantics(wire, zk, root):
    p = f"{root}/victim"
    zk.create(p)
    both, child_only, parent_watch = wire(), wire(), wire()
    # data + child watch on the same connection: one NodeDeleted only
    assert both.get_data(p, watch=True)[0].err == 0
    assert both.get_children(p, watch=True)[0].err == 0
    # only a child watch on the node: still NodeDeleted for the node
    assert child_only.get_children(p, watch=True)[0].err == 0
    # child watch on the parent: NodeChildrenChanged
    assert parent_watch.get_children(root, watch=True)[0].err == 0

    zk.delete(p)
    assert evs(both.drain_events()) == [(EV_DELETED, p)]
    assert evs(child_only.drain_events()) == [(EV_DELETED, p)]
    assert evs(parent_watch.drain_events()) == [(EV_CHILDREN_CHANGED, root)]

    # all consumed: recreating and deleting again sends nothing
    zk.create(p)
    zk.delete(p)
    for c in (both, child_only, parent_watch):
        assert c.drain_events(0.3) == []


def test_exists_watch_registered_on_no_node(wire, zk, root):
    p = f"{root}/ghost"
    c = wire()
    rep, st = c.exists(p, watch=True)
    assert rep.err == zkwire.NO_NODE and st is None
    zk.create(p)
    assert evs([c.wait_event()]) == [(EV_CREATED, p)]
    # getData with watch on a missing node does not register anything
    q = f"{root}/ghost2"
    rep, _, _ = c.get_data(q, watch=True)
    assert rep.err == zkwire.NO_NODE
    zk.create(q)
    assert c.drain_events() == []


def test_one_event_per_connection_per_trigger(wire, zk, root):
    p = f"{root}/dup"
    zk.create(p)
    c = wire()
    c.get_data(p, watch=True)
    c.exists(p, watch=True)
    c.get_data(p, watch=True)
    zk.set(p, b"x")
    assert evs(c.drain_events()) == [(EV_DATA_CHANGED, p)]


def test_persistent_watch(wire, zk, root):
    p = f"{root}/pw"
    zk.create(p)
    c = wire()
    rep = c.add_watch(p, zkwire.ADD_WATCH_PERSISTENT)
    assert rep.err == 0
    zk.set(p, b"1")
    zk.set(p, b"2")
    zk.create(f"{p}/c")
    zk.set(f"{p}/c", b"child data")  # not an event at p
    zk.create(f"{p}/c/grandchild")  # not at p either
    zk.delete(f"{p}/c/grandchild")
    zk.delete(f"{p}/c")
    zk.delete(p)
    zk.create(p)  # still registered after firing
    zk.set(p, b"3")
    assert evs(c.drain_events()) == [
        (EV_DATA_CHANGED, p),
        (EV_DATA_CHANGED, p),
        (EV_CHILDREN_CHANGED, p),
        (EV_CHILDREN_CHANGED, p),
        (EV_DELETED, p),
        (EV_CREATED, p),
        (EV_DATA_CHANGED, p),
    ]


def test_persistent_watch_on_missing_node(wire, zk, root):
    p = f"{root}/notyet"
    c = wire()
    assert c.add_watch(p, zkwire.ADD_WATCH_PERSISTENT).err == 0
    zk.create(p)
    zk.create(f"{p}/x")
    assert evs(c.drain_events()) == [(EV_CREATED, p), (EV_CHILDREN_CHANGED, p)]


def test_persistent_recursive_watch(wire, zk, root):
    p = f"{root}/rw"
    zk.create(p)
    c = wire()
    assert c.add_watch(p, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE).err == 0
    zk.create(f"{p}/a")
    zk.create(f"{p}/a/b")
    zk.set(f"{p}/a/b", b"x")
    zk.set(p, b"top")
    zk.delete(f"{p}/a/b")
    zk.create(f"{root}/sibling")  # outside the watched subtree
    zk.set(f"{root}/sibling", b"s")
    zk.create(f"{p}x")  # a path that merely starts with p's string
    zk.delete(f"{p}/a")
    assert evs(c.drain_events()) == [
        (EV_CREATED, f"{p}/a"),
        (EV_CREATED, f"{p}/a/b"),
        (EV_DATA_CHANGED, f"{p}/a/b"),
        (EV_DATA_CHANGED, p),
        (EV_DELETED, f"{p}/a/b"),
        (EV_DELETED, f"{p}/a"),
    ]


def test_add_watch_reply_body(wire, root):
    c = wire()
    rep = c.add_watch(f"{root}", zkwire.ADD_WATCH_PERSISTENT)
    assert rep.err == 0
    assert rep.body == b"\x00\x00\x00\x00"  # ErrorResponse{err=0}


def test_remove_watches(wire, zk, root):
    p = f"{root}/rm"
    zk.create(p)
    c = wire()
    # data watch
    c.get_data(p, watch=True)
    assert c.remove_watches(p, zkwire.WT_DATA).err == 0
    assert c.remove_watches(p, zkwire.WT_DATA).err == zkwire.NO_WATCHER
    zk.set(p, b"1")
    assert c.drain_events() == []
    # child watch; removing the data kind finds nothing
    c.get_children(p, watch=True)
    assert c.remove_watches(p, zkwire.WT_DATA).err == zkwire.NO_WATCHER
    assert c.remove_watches(p, zkwire.WT_CHILDREN).err == 0
    zk.create(f"{p}/k")
    assert c.drain_events() == []
    # both kinds at once
    c.get_data(p, watch=True)
    c.get_children(p, watch=True)
    assert c.remove_watches(p, zkwire.WT_ANY).err == 0
    assert c.remove_watches(p, zkwire.WT_ANY).err == zkwire.NO_WATCHER
    zk.set(p, b"2")
    zk.delete(f"{p}/k")
    assert c.drain_events() == []
    # persistent and recursive watches
    for mode in (zkwire.ADD_WATCH_PERSISTENT, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE):
        assert c.add_watch(p, mode).err == 0
        assert c.remove_watches(p, zkwire.WT_ANY).err == 0
        zk.set(p, b"3")
        zk.create(f"{p}/k")
        zk.delete(f"{p}/k")
        assert c.drain_events() == []
    # a path nobody watches
    assert c.remove_watches(f"{root}/never", zkwire.WT_ANY).err == zkwire.NO_WATCHER


def test_remove_watches_only_own_connection(wire, zk, root):
    p = f"{root}/own"
    zk.create(p)
    a, b = wire(), wire()
    a.get_data(p, watch=True)
    # b has no watch: removing fails and a's watch survives
    assert b.remove_watches(p, zkwire.WT_DATA).err == zkwire.NO_WATCHER
    zk.set(p, b"x")
    assert evs(a.drain_events()) == [(EV_DATA_CHANGED, p)]
