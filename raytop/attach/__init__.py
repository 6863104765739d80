"""Attach levels: which drivers the probe can reach, loading it into a live driver (injection),
and the always-on dormant probe (``raytop probe enable``). ``agent`` runs inside the driver and
imports only the standard library, Ray and the probe."""
