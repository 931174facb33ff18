"""High availability on PostgreSQL's own replication: Patroni + etcd + HAProxy.

gridmap runs no consensus of its own.  Patroni (with etcd as its store) keeps one PostgreSQL
primary and streaming replicas, promotes a replica when the primary dies and rejoins the old
one; HAProxy sends writes to the primary and reads to replicas, asking each Patroni which role
its node has; gridmap nodes are stateless and sit behind a load balancer.  ``docker/ha.yaml``
is that topology for machines; :mod:`gis.ha.topology` starts the same topology on one machine,
on loopback ports, from the Debian packages (``gridmap ha up``, and the tests).
"""
