"""Routing library: routers, capacity, balancing losses, per-call options and traces."""
from routing.options import RoutingOptions
from routing.trace import RoutingTrace

__all__ = ["RoutingOptions", "RoutingTrace"]
