"""Views of finished pulls that leave the process: Prometheus metrics and OpenTelemetry traces.

A sink reads a closed `Session` (the model) and nothing else of the capture: the addon,
or any other source, hands it each pull as it finishes. `facts` holds the readings the
sinks and the fleet report share (a pull's result, its serving hosts, rate limits,
token lifetimes, layer positions), so they say the same about the same pull.
"""
