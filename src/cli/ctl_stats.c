/*
 * ctl_stats.c - see ctl_stats.h.
 */
#include "cli/ctl_stats.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double ctl_stats_percentile(const double *sorted, size_t n, double p)
{
	double rank;
	size_t idx;

	if (n == 0)
		return 0;
	if (p <= 0)
		return sorted[0];
	rank = ceil(p / 100.0 * (double)n);
	idx = rank < 1 ? 0 : (size_t)rank - 1;
	return sorted[idx < n ? idx : n - 1];
}

static int ctl_stats_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void ctl_stats_sort(double *values, size_t n)
{
	if (n > 1)
		qsort(values, n, sizeof(*values), ctl_stats_cmp);
}

void ctl_stats_progress(size_t done, size_t total, double elapsed_s, int width, char *buf,
                        size_t size)
{
	char bar[256];
	int filled, i;

	if (width < 1)
		width = 1;
	if (width > (int)sizeof(bar) - 1)
		width = (int)sizeof(bar) - 1;
	if (done > total)
		done = total;
	filled = total == 0 ? width : (int)((double)done * width / (double)total);
	for (i = 0; i < width; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[width] = '\0';
	snprintf(buf, size, "[%s] %*zu/%zu %3d%%  %.1fs", bar, (int)snprintf(NULL, 0, "%zu", total),
	         done, total, total == 0 ? 100 : (int)(done * 100 / total), elapsed_s);
}

/* Reads exactly `digits` decimal digits at *p into *out and advances *p. */
static int ctl_stats_digits(const char **p, int digits, int *out)
{
	int v = 0, i;

	for (i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += digits;
	*out = v;
	return 0;
}

int ctl_stats_parse_timestamp(const char *text, double *out_epoch_s)
{
	const char *p = text;
	int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
	double frac = 0;
	struct tm tm;
	time_t t;

	if (p == NULL || ctl_stats_digits(&p, 4, &year) != 0 || *p++ != '-' ||
	    ctl_stats_digits(&p, 2, &mon) != 0 || *p++ != '-' ||
	    ctl_stats_digits(&p, 2, &day) != 0 || (*p != 'T' && *p != ' '))
		return -1;
	p++;
	if (ctl_stats_digits(&p, 2, &hour) != 0 || *p++ != ':' ||
	    ctl_stats_digits(&p, 2, &min) != 0 || *p++ != ':' || ctl_stats_digits(&p, 2, &sec) != 0)
		return -1;
	if (*p == '.') {
		double scale = 0.1;

		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (ctl_stats_digits(&p, 2, &oh) != 0)
			return -1;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)*p) && ctl_stats_digits(&p, 2, &om) != 0)
			return -1;
	} else {
		return -1; /* no zone: the API always writes one, and guessing would be wrong */
	}
	if (*p != '\0' || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 ||
	    sec > 60 || oh > 23 || om > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*out_epoch_s = (double)t + frac - sign * (oh * 3600.0 + om * 60.0);
	return 0;
}

double ctl_stats_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
