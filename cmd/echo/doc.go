// Command echo runs the netsys echo server, drives load against any echo server,
// and compares netsys side by side with a plain net-package server, a bare
// gnet echo and a bare nbio echo.
//
//	echo serve   [flags]   run the netsys engine as an echo server
//	echo load    [flags]   drive load against an echo server and report latency
//	echo compare [flags]   benchmark netsys beside net, bare gnet and bare nbio
//	echo compare -list     the scenarios, and the servers each runs against
//	echo cluster-demo      a cluster of serve -fanout nodes over NATS, under load
//
// Run "echo <command> -h" for the flags of a command.
package main
