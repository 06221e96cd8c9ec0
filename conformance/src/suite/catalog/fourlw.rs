//! The four-letter words: the lines and keys every ZooKeeper tool parses.

use crate::suite::scenario::*;

pub fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();

    let mut s = Script::new("4lw", "ruok");
    s.four(0, "ruok", TextExpect::Exactly("imok".into()));
    v.push(s.done());

    let mut s = Script::new("4lw", "srvr");
    s.four(
        0,
        "srvr",
        lines_starting(&[
            "Zookeeper version: ",
            "Latency min/avg/max: ",
            "Received: ",
            "Sent: ",
            "Connections: ",
            "Outstanding: ",
            "Zxid: 0x",
            "Mode: ",
            "Node count: ",
        ]),
    );
    v.push(s.done());

    let mut s = Script::new("4lw", "stat lists the clients");
    s.connect("a");
    s.call("a", exists("/", false)).ok();
    s.four(0, "stat", lines_starting(&["Zookeeper version: ", "Clients:", " /127.0.0.1:", "Mode: ", "Node count: "]));
    v.push(s.done());

    let mut s = Script::new("4lw", "mntr keys");
    s.four(
        0,
        "mntr",
        lines_starting(&[
            "zk_version\t",
            "zk_avg_latency\t",
            "zk_max_latency\t",
            "zk_min_latency\t",
            "zk_packets_received\t",
            "zk_packets_sent\t",
            "zk_num_alive_connections\t",
            "zk_outstanding_requests\t",
            "zk_server_state\t",
            "zk_znode_count\t",
            "zk_watch_count\t",
            "zk_ephemerals_count\t",
            "zk_approximate_data_size\t",
        ]),
    );
    v.push(s.done());

    let mut s = Script::new("4lw", "conf shows the configuration");
    s.four(
        0,
        "conf",
        lines_starting(&[
            "clientPort=",
            "dataDir=",
            "tickTime=500",
            "maxClientCnxns=",
            "minSessionTimeout=1000",
            "maxSessionTimeout=10000",
            "serverId=",
        ]),
    );
    v.push(s.done());

    let mut s = Script::new("4lw", "envi");
    s.four(0, "envi", lines_starting(&["Environment:", "zookeeper.version=", "host.name=", "os.name=", "user.name="]));
    v.push(s.done());

    let mut s = Script::new("4lw", "cons lists connections");
    s.connect("a");
    s.call("a", exists("/", false)).ok();
    s.four(0, "cons", containing(&[" /127.0.0.1:", "queued=", "recved=", "sent="]));
    v.push(s.done());

    let mut s = Script::new("4lw", "wchs, wchc and wchp count and list watches");
    s.connect("a");
    s.call("a", create("/w", b"")).ok();
    s.call("a", get("/w", true)).ok();
    s.four(0, "wchs", containing(&["connections watching", "paths", "Total watches:"]));
    s.four(0, "wchp", containing(&["/w\n", "\t0x"]));
    s.four(0, "wchc", containing(&["0x", "/w\n"]));
    v.push(s.done());

    let mut s = Script::new("4lw", "dump lists sessions with ephemerals");
    s.connect("a");
    s.call("a", create_with("/e", b"", crate::suite::wire::mode::EPHEMERAL, crate::suite::wire::CreateKind::Create))
        .ok();
    s.four(0, "dump", containing(&["Sessions with Ephemerals", "/e\n"]));
    v.push(s.done());

    let mut s = Script::new("4lw", "isro answers rw");
    s.four(0, "isro", TextExpect::Exactly("rw".into()));
    v.push(s.done());

    v
}
