"""Console pages that watch the grid as it runs: the fleet map, a transformer's page, the alarm
centre and the voltage compliance report."""
