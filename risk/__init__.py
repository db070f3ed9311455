"""The risk layer: signals on every scan, a brand's policy turning them into a decision the draw honours,
flags and a review queue, and held awards that are not paid until reviewed (docs/risk.md).

Hot path (decides a draw): `risk/subject.lua` per subject (device, member, network, GPS point), each under its
own hash tag so a Redis Cluster serves it; `risk.policy.decide` turns the replies into a `Decision`;
`risk.gate.RiskGate` is what the scanner calls. Off the hot path: `risk.observer.RiskObserver` watches the
drained scan events and raises flags (`risk_flags`), `risk.review` is what a reviewer does with them.
Pure domain: no Flask.
"""
