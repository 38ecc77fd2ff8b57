/** Vite inlines `?raw` imports as text: how a test in workerd reads a repository file. */
declare module "*?raw" {
  const text: string;
  export default text;
}
