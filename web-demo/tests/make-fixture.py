#!/usr/bin/env python3
"""Writes public/samples/overlay-survey.graphml: a made-up surveyed network in the GraphML
stellar-core's OverlaySurvey.py writes (with networkx's write_graphml, as it does: a directed graph,
nodes are strkeys with `version` and the node fields, edges run inbound peer -> node and
node -> outbound peer with the peer statistics). Deterministic; the web-demo test checks
its node and edge counts. 12 validators (full mesh), 36 watchers, 6 nodes that never
answered (they appear only as peers)."""
import base64, hashlib, random, struct, sys

def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc

def strkey(seed):
    pk = hashlib.sha256(seed.encode()).digest()
    raw = bytes([6 << 3]) + pk
    return base64.b32encode(raw + struct.pack("<H", crc16(raw))).decode()

rng = random.Random(25)
V, W, U = 12, 36, 6
vals = [strkey(f"validator-{i}") for i in range(V)]
watchers = [strkey(f"watcher-{i}") for i in range(W)]
silent = [strkey(f"silent-{i}") for i in range(U)]
edges = {}  # (from, to) -> stats; from dialled to
def connect(a, b):
    if (a, b) in edges or (b, a) in edges or a == b:
        return
    secs = rng.randint(300, 90000)
    msgs_r, msgs_w = rng.randint(1000, 90000), rng.randint(1000, 90000)
    uf, df = rng.randint(500, 40000), rng.randint(100, 60000)
    edges[(a, b)] = {
        "bytesRead": msgs_r * rng.randint(180, 420), "bytesWritten": msgs_w * rng.randint(180, 420),
        "messagesRead": msgs_r, "messagesWritten": msgs_w, "secondsConnected": secs,
        "uniqueFloodBytesRecv": uf * 300, "duplicateFloodBytesRecv": df * 300,
        "uniqueFetchBytesRecv": rng.randint(0, 90000), "duplicateFetchBytesRecv": rng.randint(0, 5000),
        "uniqueFloodMessageRecv": uf, "duplicateFloodMessageRecv": df,
        "uniqueFetchMessageRecv": rng.randint(0, 300), "duplicateFetchMessageRecv": rng.randint(0, 20),
        "averageLatencyMs": rng.randint(2, 180),
    }
for i in range(V):
    for j in range(i + 1, V):
        connect(vals[i], vals[j])
for w in watchers:
    for v in rng.sample(vals, 3):
        connect(w, v)
    for x in rng.sample(watchers, 2):
        connect(w, x)
for s in silent:
    for w in rng.sample(watchers, 2):
        connect(w, s)

versions = ["stellar-core 25.0.0 (e6d8a3c)", "stellar-core 25.0.1 (1b2f7e0)", "stellar-core 24.1.0 (9a0c4d1)", "stellar-overlay-rs 0.1.0"]
answered = vals + watchers
node_data = {}
for n in answered:
    ins = [a for (a, b) in edges if b == n]
    outs = [b for (a, b) in edges if a == n]
    node_data[n] = {
        "version": rng.choice(versions[:3]) if n in vals else rng.choice(versions),
        "numTotalInboundPeers": len(ins), "numTotalOutboundPeers": len(outs),
        "maxInboundPeerCount": 64, "maxOutboundPeerCount": 8,
        "addedAuthenticatedPeers": rng.randint(0, 4), "droppedAuthenticatedPeers": rng.randint(0, 3),
        "p75SCPFirstToSelfLatencyMs": rng.randint(40, 900), "p75SCPSelfToOtherLatencyMs": rng.randint(20, 700),
        "lostSyncCount": rng.choice([0, 0, 0, 1]), "isValidator": n in vals,
    }
for s in silent:
    node_data[s] = {"version": rng.choice(versions)}  # known from peers' reports only

# Written the way OverlaySurvey.py writes its graph: a networkx DiGraph, nx.write_graphml.
import networkx as nx
g = nx.DiGraph()
for n, d in node_data.items():
    g.add_node(n, **d)
for (a, b), d in edges.items():
    g.add_edge(a, b, **d)
path = sys.argv[1] if len(sys.argv) > 1 else "public/samples/overlay-survey.graphml"
nx.write_graphml(g, path)
print(f"{path}: {g.number_of_nodes()} nodes, {g.number_of_edges()} edges, {U} unresponsive", file=sys.stderr)
