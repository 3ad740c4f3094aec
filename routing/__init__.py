"""Routing library: routers, capacity, balancing losses, per-call options and traces, load and
specialisation statistics.

Never imports models/ (routers are built from plain arguments) and never mutates a module per call."""
from routing.options import RoutingOptions
from routing.trace import RoutingTrace

__all__ = ["RoutingOptions", "RoutingTrace"]
