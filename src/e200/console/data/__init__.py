"""Console pages that read measured data: the query page and its charts, a customer meter's page,
and acquisition quality."""
