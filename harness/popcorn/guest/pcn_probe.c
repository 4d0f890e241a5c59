/* pcn_probe: does this kernel speak Popcorn's get_node_info, and what does it say?
 *
 * Prints one JSON object: the raw return value and errno of the call, my_nid, and the table it
 * filled. A sentinel-filled buffer shows which entries the kernel wrote. On kernels >= 5.6 the number
 * 437 is openat2: the call then fails with EINVAL/EFAULT/E2BIG and writes nothing, which is just as
 * telling as ENOSYS on a 5.2 kernel built without Popcorn.
 */
#include "popcorn.h"

#define SENTINEL 0x5a5a5a5a

int main(void)
{
	struct pcn_node_info info[PCN_MAX_TABLE];
	int my_nid = SENTINEL, written = 0;
	long ret;
	int err, i;

	memset(info, 0x5a, sizeof(info));
	errno = 0;
	ret = pcn_get_node_info(&my_nid, info, PCN_MAX_TABLE);
	err = errno;
	for (i = 0; i < PCN_MAX_TABLE; i++)
		if (info[i].status != SENTINEL)
			written = i + 1;
	printf("{\"nr\": %ld, \"ret\": %ld, \"errno\": %d, \"errno_name\": \"%s\", \"my_nid_written\": %s, "
	       "\"my_nid\": %d, \"entries_written\": %d, \"nodes\": [",
	       PCN_NR_NODE_INFO, ret, ret < 0 ? err : 0, ret < 0 ? strerrorname_np(err) : "",
	       my_nid != SENTINEL ? "true" : "false", my_nid, written);
	for (i = 0; i < written; i++)
		printf("%s{\"status\": %u, \"arch\": %d, \"distance\": %d}", i ? ", " : "", info[i].status,
		       info[i].arch, info[i].distance);
	printf("]}\n");
	return 0;
}
