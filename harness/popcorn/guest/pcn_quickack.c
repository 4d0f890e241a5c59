/* pcn_quickack: TCP on the cluster's route ACKs at once, or as usual (`popcorn-harness bench --quickack`).
 *
 * usage: pcn_quickack DST/LEN DEV SRC [0|1]
 * Replaces the connected route DST/LEN dev DEV src SRC with the same route whose metrics carry
 * RTAX_QUICKACK (1 by default; 0 puts the usual delayed ACKs back), over rtnetlink: busybox's ip cannot set
 * it. Why: Popcorn's messaging layer (msg_layer/socket.c) sends its messages without TCP_NODELAY, so a
 * small message sent while an earlier one is unacknowledged waits for the peer's delayed ACK (40 ms); with
 * quick ACKs on both ends that wait is gone, which tells a latency spent waiting on ACKs from one spent in
 * Popcorn (README, Benchmarks). Exit 0 when the kernel accepted the route, 1 with its error, 2 for bad usage.
 */
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void add_attr(struct nlmsghdr *n, int type, const void *data, int len)
{
	struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

int main(int argc, char **argv)
{
	struct { struct nlmsghdr n; struct rtmsg r; char buf[512]; } req;
	struct { struct rtattr quickack; unsigned int value; } metrics;
	char reply[1024], *slash;
	struct in_addr dst, src;
	int fd, oif, len;
	unsigned int on = argc > 4 ? (unsigned int)atoi(argv[4]) : 1;

	if (argc < 4 || argc > 5 || !(slash = strchr(argv[1], '/'))) {
		fprintf(stderr, "usage: %s DST/LEN DEV SRC [0|1]\n", argv[0]);
		return 2;
	}
	*slash = 0;
	oif = if_nametoindex(argv[2]);
	if (inet_pton(AF_INET, argv[1], &dst) != 1 || inet_pton(AF_INET, argv[3], &src) != 1 || !oif) {
		fprintf(stderr, "%s: bad address or device\n", argv[0]);
		return 2;
	}
	memset(&req, 0, sizeof(req));
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.n.nlmsg_type = RTM_NEWROUTE;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	req.r.rtm_family = AF_INET;
	req.r.rtm_dst_len = atoi(slash + 1);
	req.r.rtm_table = RT_TABLE_MAIN;
	req.r.rtm_protocol = RTPROT_KERNEL;
	req.r.rtm_scope = RT_SCOPE_LINK;
	req.r.rtm_type = RTN_UNICAST;
	add_attr(&req.n, RTA_DST, &dst, 4);
	add_attr(&req.n, RTA_PREFSRC, &src, 4);
	add_attr(&req.n, RTA_OIF, &oif, 4);
	metrics.quickack.rta_type = RTAX_QUICKACK;
	metrics.quickack.rta_len = RTA_LENGTH(sizeof(metrics.value));
	metrics.value = on;
	add_attr(&req.n, RTA_METRICS, &metrics.quickack, RTA_ALIGN(metrics.quickack.rta_len));
	fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (fd < 0 || send(fd, &req, req.n.nlmsg_len, 0) < 0) {
		perror("netlink");
		return 1;
	}
	len = recv(fd, reply, sizeof(reply), 0);
	if (len < (int)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		fprintf(stderr, "%s: no answer from rtnetlink\n", argv[0]);
		return 1;
	}
	if (((struct nlmsghdr *)reply)->nlmsg_type == NLMSG_ERROR) {
		int error = ((struct nlmsgerr *)NLMSG_DATA((struct nlmsghdr *)reply))->error;

		if (error) {
			fprintf(stderr, "%s: RTM_NEWROUTE: %s\n", argv[0], strerror(-error));
			return 1;
		}
	}
	return 0;
}
