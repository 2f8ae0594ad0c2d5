#!/bin/sh
# Regenerates ping-capture.json: two throwaway namespaces joined by a veth
# pair, kernel ping from one to the other, packets read with AF_PACKET.
# Needs root, iproute2, iputils ping and python3. Deletes what it creates.
set -e
here=$(cd "$(dirname "$0")" && pwd)
a=wgts-cap-a; b=wgts-cap-b
trap 'ip netns del $a 2>/dev/null; ip netns del $b 2>/dev/null' EXIT
ip netns add $a; ip netns add $b
ip link add wgcapa netns $a type veth peer name wgcapb netns $b
ip -n $a addr add 10.77.0.1/24 dev wgcapa; ip -n $b addr add 10.77.0.2/24 dev wgcapb
ip -n $a addr add fd77::1/64 dev wgcapa nodad; ip -n $b addr add fd77::2/64 dev wgcapb nodad
for n in $a $b; do ip -n $n link set lo up; done
ip -n $a link set wgcapa up; ip -n $b link set wgcapb up
sleep 1
ip netns exec $a python3 "$here/capture-ping.py" "$here/ping-capture.json"
