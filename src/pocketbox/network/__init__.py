"""Container networking: a Linux bridge per network, a veth pair per container, addresses from a
small persistent IPAM, published ports through nftables NAT, names through /etc/hosts."""
