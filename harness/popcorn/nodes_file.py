"""Popcorn's nodes file, ``/etc/popcorn/nodes``: one IPv4 address a line, in node-id order (node id = line
index). ``msg_socket.ko`` reads it at load time to connect the mesh."""

from __future__ import annotations

from harness.cluster.cluster import Cluster
from harness.vm import guest_image

NODES_FILE = "/etc/popcorn/nodes"


def nodes_file_text(addresses: list[str]) -> str:
    """The nodes file for nodes with ``addresses`` (rendered from ``images/templates/nodes.j2``)."""
    return guest_image.render_template("nodes.j2", addresses=addresses)


def write_nodes_file(cluster: Cluster) -> None:
    """Write the nodes file on every node of ``cluster``."""
    text = nodes_file_text([node.address for node in cluster.nodes]).encode()
    cluster.parallel(lambda node: node.ssh.put_bytes(text, NODES_FILE, 0o644))
