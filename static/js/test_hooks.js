// Hooks for the browser tests, loaded by flow.js only when the browser is under
// automation (navigator.webdriver), so the page a person opens has no way to close
// its socket or feed it frames from the console.
//   flowdash.drop()          closes the socket as a server drop would (reconnecting follows)
//   flowdash.inject(message) hands the socket a message as if the server had sent it
//                            (a frame after a gap, say)

export function testHooksInstall(flags, socket) {
  flags.drop = () => socket.ws?.close(4000, "dropped for a test");
  flags.inject = (message) => socket.receive(message);
}
