"""Tools that observe the data plane for real, shared by the demo, the tests and the experiments:
packet captures (capture), one packet's journey step by step (journey: pings, probes, counters),
crafted packets sent inside an instance or on an underlay cable (craft, run as
`python -m testbed.observe.craft`), and a bridge's flows (flows).  The packet tracer will live
here too."""
