/*
 * stats.c - the latency histogram's read side and the small statistics the
 * report needs: medians, Jain's fairness index, min/max ratio.
 */
#include <math.h>
#include <stdlib.h>

#include "bench.h"

double hist_bucket_mid(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned e = (i - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
	unsigned m = (i - HIST_SUB) % HIST_SUB;
	double width = ldexp(1.0, (int)(e - HIST_SUB_BITS));
	double low = ldexp(1.0, (int)e) + m * width;

	return low + width / 2;
}

double hist_quantile(const uint64_t *hist, uint64_t total, double q)
{
	if (!total)
		return NAN;
	/* The sample of rank ceil(q * total), 1-based. */
	uint64_t rank = (uint64_t)ceil(q * (double)total);
	uint64_t seen = 0;

	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank)
			return hist_bucket_mid(i);
	}
	return hist_bucket_mid(HIST_BUCKETS - 1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median_of(double *v, unsigned n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double min_of(const double *v, unsigned n)
{
	double m = NAN;

	for (unsigned i = 0; i < n; i++)
		if (isnan(m) || v[i] < m)
			m = v[i];
	return m;
}

double max_of(const double *v, unsigned n)
{
	double m = NAN;

	for (unsigned i = 0; i < n; i++)
		if (isnan(m) || v[i] > m)
			m = v[i];
	return m;
}

/* (sum x)^2 / (n * sum x^2): 1 when all threads got the same share, 1/n when one got all. */
double jain_index(const uint64_t *x, unsigned n)
{
	double s = 0, s2 = 0;

	for (unsigned i = 0; i < n; i++) {
		s += (double)x[i];
		s2 += (double)x[i] * (double)x[i];
	}
	return s2 > 0 ? s * s / (n * s2) : NAN;
}

/* The least-served thread's count over the most-served one's. */
double min_max_ratio(const uint64_t *x, unsigned n)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (unsigned i = 0; i < n; i++) {
		if (x[i] < lo)
			lo = x[i];
		if (x[i] > hi)
			hi = x[i];
	}
	return hi ? (double)lo / (double)hi : NAN;
}
