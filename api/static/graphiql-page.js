// GraphiQL from the vendored UMD bundle. The token the explorer keeps for this tab (sessionStorage)
// is sent as a Bearer header; the Headers tab can override it. ?query= and ?variables= prefill.
(function () {
  const params = new URLSearchParams(window.location.search);
  const token = sessionStorage.getItem("itam-token");
  const fetcher = GraphiQL.createFetcher({
    url: "/graphql",
    headers: token ? { Authorization: "Bearer " + token } : {},
  });
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: params.get("query") || "{ asset(identifier: \"web-01\") { name shouldExist { verdict reasons } } }",
    query: params.get("query") || undefined,
    variables: params.get("variables") || undefined,
    defaultEditorToolsVisibility: Boolean(params.get("variables")),
  }));
})();
