"""Export `IceCredentialsCache.stats()` to Prometheus, read at every scrape."""

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from turnix_async import IceCredentialsCache

COUNTERS = {
    "hits": "get() calls answered from the cache",
    "misses": "get() calls that started a request",
    "joins": "get() calls that joined a request already under way",
    "refreshes": "background refreshes started",
    "refresh_failures": "background refreshes that failed",
    "evictions": "entries dropped to stay within max_entries",
}


class CacheStatsCollector:
    """A Prometheus collector: turnix_cache_<counter>_total and turnix_cache_entries."""

    def __init__(self, cache: IceCredentialsCache) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        stats = self._cache.stats()
        for field, meaning in COUNTERS.items():
            yield CounterMetricFamily(
                f"turnix_cache_{field}", meaning, value=getattr(stats, field)
            )
        yield GaugeMetricFamily(
            "turnix_cache_entries", "entries cached now", value=stats.entries
        )


def export_cache_stats(
    cache: IceCredentialsCache, registry: CollectorRegistry = REGISTRY
) -> None:
    registry.register(CacheStatsCollector(cache))
