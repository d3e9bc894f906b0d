/* The VM's speed at a moment (BENCHMARKS.md): 400 million Xoshiro256++
 * steps in registers, no memory traffic, timed in CPU time. On a shared VM
 * the figure drifts; printed before and after a set of measurements, it
 * tells a slow phase from a slower program.
 *
 *     cc -O2 -o /tmp/vm-speed scripts/vm-speed.c && /tmp/vm-speed
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

int main(void) {
    uint64_t s[4] = {1, 2, 3, 4}, acc = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (long i = 0; i < 400000000L; i++) {
        const uint64_t r = rotl(s[0] + s[3], 23) + s[0];
        const uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        acc += r;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 4e8;
    printf("vm-speed: %.3f ns per step (checksum bit %llu)\n", ns, (unsigned long long)(acc & 1));
    return 0;
}
