/*
 * LD_PRELOAD shim for the Janus benchmark reference (see README.md).
 *
 * Janus 1.1.x skips every interface flagged IFF_LOOPBACK when it picks the
 * addresses to gather ICE candidates on (src/ice.c, janus_ice_setup_local),
 * whatever ice_enforce_list says; with nothing added, libnice falls back to
 * all non-loopback interfaces (eth0, IPv6, ...). So on its own it can never
 * offer a 127.0.0.1 host candidate.
 *
 * This wrapper of getifaddrs(3) makes the process see only loopback
 * interfaces, and without the IFF_LOOPBACK flag: every other interface is
 * reported as down (so Janus and libnice skip it). Entries are not unlinked,
 * because glibc's freeifaddrs() frees the whole block through the head.
 *
 *   cc -shared -fPIC -O2 -o loopback_only.so loopback_only.c -ldl
 *   LD_PRELOAD=$PWD/loopback_only.so janus ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stddef.h>

int getifaddrs(struct ifaddrs **ifap) {
	static int (*real)(struct ifaddrs **) = NULL;
	if(real == NULL)
		real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
	if(real == NULL)
		return -1;
	int r = real(ifap);
	if(r != 0 || ifap == NULL)
		return r;
	for(struct ifaddrs *i = *ifap; i != NULL; i = i->ifa_next) {
		if(i->ifa_flags & IFF_LOOPBACK)
			i->ifa_flags &= ~IFF_LOOPBACK;
		else
			i->ifa_flags &= ~(IFF_UP | IFF_RUNNING);
	}
	return r;
}
